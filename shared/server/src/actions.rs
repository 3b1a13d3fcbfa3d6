//! Actions: widget buttons and `chatkit.sendCustomAction` calls, dispatched by their `type`
//! to handlers registered in an [`ActionRegistry`].
//!
//! A handler may replace the widget that fired the action (`thread.item.replaced`), add
//! items, emit `client_effect` / `notice`, or start a model turn ([`ActionContext::respond`]).
//! `threads.sync_custom_action` returns the handler's updated widget (the server stores it).
//! An action type nobody registered is a 400 before anything streams.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::{Action, ThreadItem, ThreadMetadata, WidgetItem};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ChatKitError, EventSink, RequestContext, Responder, StreamError, Turn};

/// A streamed action (`threads.custom_action`).
pub struct ActionContext {
    /// The thread, its recent history, the caller and the store.
    pub turn: Turn,
    pub action: Action,
    /// The widget item that fired the action, when it came from a widget.
    pub sender: Option<WidgetItem>,
    pub(crate) responder: Arc<dyn Responder>,
}

impl ActionContext {
    /// The payload of an action a widget sent, as `T`: the server has checked it against the
    /// action that widget offers, so its declared fields are what the server rendered. An
    /// action with no sending widget (`chatkit.sendCustomAction` from the page, any payload)
    /// is refused. Use this for anything the payload names (an order, a record).
    pub fn widget_payload<T: DeserializeOwned>(&self) -> Result<T, StreamError> {
        if self.sender.is_none() {
            return Err(StreamError::custom(
                format!("the `{}` action must come from its widget", self.action.kind),
                false,
            ));
        }
        self.payload()
    }

    /// The payload as `T`, as the client sent it; a payload of the wrong shape is a clear
    /// error event.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, StreamError> {
        serde_json::from_value(self.action.payload.clone()).map_err(|e| {
            StreamError::custom(
                format!("the `{}` action's payload is not valid: {e}", self.action.kind),
                false,
            )
        })
    }

    /// Replaces the sending widget in place with `widget` (`thread.item.replaced`, stored
    /// first); the widget is checked and a bad one is an error event, never a broken frame.
    /// The turn's history shows the new widget from then on (for [`ActionContext::respond`]).
    pub async fn replace_widget(
        &mut self,
        events: &EventSink,
        widget: impl Into<Value>,
        copy_text: Option<String>,
    ) -> Result<WidgetItem, StreamError> {
        let Some(sender) = &self.sender else {
            return Err(StreamError::custom(
                format!("the `{}` action has no widget to update", self.action.kind),
                false,
            ));
        };
        let widget = widget.into();
        chatkit_protocol::widgets::validate_widget(&widget).map_err(|e| {
            tracing::warn!(action = %chatkit_protocol::ids::echo(&self.action.kind), error = %e, "an action handler built an invalid widget");
            StreamError::custom("The updated widget could not be shown.", false)
        })?;
        let mut item = sender.clone();
        item.widget = widget;
        item.copy_text = copy_text.or(item.copy_text);
        events
            .emit(chatkit_protocol::ThreadStreamEvent::ItemReplaced { item: item.clone().into() })
            .await?;
        if let Some(slot) = self.turn.history.iter_mut().find(|i| i.id() == item.id) {
            *slot = ThreadItem::Widget(item.clone());
        }
        Ok(item)
    }

    /// Starts a model turn (the server's responder) that sees the thread's history plus
    /// `items`, which are stored first (hidden ones included, e.g. a note of what the user
    /// did). Use it last: the turn's events follow on the same stream.
    pub async fn respond(
        self,
        events: &EventSink,
        items: Vec<ThreadItem>,
    ) -> Result<(), StreamError> {
        let mut turn = self.turn;
        for item in items {
            events.done(item.clone()).await?;
            turn.history.push(item);
        }
        turn.input = None;
        self.responder.respond(turn, events.clone()).await
    }
}

/// A synchronous action (`threads.sync_custom_action`).
pub struct SyncActionContext {
    pub context: RequestContext,
    pub thread: ThreadMetadata,
    pub action: Action,
    pub sender: Option<WidgetItem>,
}

impl SyncActionContext {
    /// As [`ActionContext::widget_payload`]: checked against the sending widget's action; an
    /// action with no sending widget is a 400.
    pub fn widget_payload<T: DeserializeOwned>(&self) -> Result<T, ChatKitError> {
        if self.sender.is_none() {
            return Err(ChatKitError::BadRequest {
                message: format!("the `{}` action must come from its widget", self.action.kind),
                field: Some("params.item_id".into()),
            });
        }
        self.payload()
    }

    /// The payload as `T`, as the client sent it; a payload of the wrong shape is a 400.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, ChatKitError> {
        serde_json::from_value(self.action.payload.clone()).map_err(|e| ChatKitError::BadRequest {
            message: format!("the `{}` action's payload is not valid: {e}", self.action.kind),
            field: Some("params.action.payload".into()),
        })
    }

    /// The sending widget with a new tree, to return (checked: a bad tree is a 500 naming
    /// the problem, never a broken frame).
    pub fn updated_widget(
        &self,
        widget: impl Into<Value>,
        copy_text: Option<String>,
    ) -> Result<WidgetItem, ChatKitError> {
        let Some(sender) = &self.sender else {
            return Err(ChatKitError::bad_request(format!(
                "the `{}` action needs the widget's item_id",
                self.action.kind
            )));
        };
        let widget = widget.into();
        chatkit_protocol::widgets::validate_widget(&widget)
            .map_err(|e| ChatKitError::Internal(format!("the updated widget is invalid: {e}")))?;
        let mut item = sender.clone();
        item.widget = widget;
        item.copy_text = copy_text.or(item.copy_text);
        Ok(item)
    }
}

/// Handles one action type.
#[async_trait]
pub trait ActionHandler: Send + Sync + 'static {
    /// `threads.custom_action`: emit through `events` (replace the widget, add items,
    /// effects, notices) or start a model turn.
    async fn handle(&self, action: ActionContext, events: EventSink) -> Result<(), StreamError>;

    /// `threads.sync_custom_action`: the updated widget, or `None` for no change. The server
    /// stores it before answering. The default refuses (the action is streamed only).
    async fn handle_sync(
        &self,
        action: SyncActionContext,
    ) -> Result<Option<WidgetItem>, ChatKitError> {
        Err(ChatKitError::BadRequest {
            message: format!(
                "the `{}` action is streamed only; send it with threads.custom_action",
                action.action.kind
            ),
            field: Some("type".into()),
        })
    }
}

/// Action handlers keyed by action `type`.
#[derive(Clone, Default)]
pub struct ActionRegistry {
    handlers: BTreeMap<String, Arc<dyn ActionHandler>>,
}

impl ActionRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for actions of type `kind` (replacing any earlier one).
    pub fn with(mut self, kind: impl Into<String>, handler: Arc<dyn ActionHandler>) -> Self {
        self.register(kind, handler);
        self
    }

    pub fn register(&mut self, kind: impl Into<String>, handler: Arc<dyn ActionHandler>) {
        self.handlers.insert(kind.into(), handler);
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ActionHandler>> {
        self.handlers.get(kind)
    }

    /// The registered types, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// The 400 for a type nobody handles.
    pub(crate) fn unknown(&self, kind: &str) -> ChatKitError {
        let known =
            if self.handlers.is_empty() { "none".to_string() } else { self.kinds().join(", ") };
        ChatKitError::BadRequest {
            message: format!(
                "unknown action type `{}`; this server handles: {known}",
                kind.chars().take(100).collect::<String>()
            ),
            field: Some("params.action.type".into()),
        }
    }
}
