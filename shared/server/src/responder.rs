//! The extension point: what a team implements to plug its own agent logic into the server
//! (the reference SDK's `respond()`, `action()`, `sync_action()`, `add_feedback()`,
//! `transcribe()`, `get_stream_options()` and cancellation hook).

use std::sync::Arc;

use async_trait::async_trait;
use chatkit_protocol::{
    Action, FeedbackKind, StreamOptions, SyncCustomActionResponse, ThreadItem, ThreadMetadata,
    TranscriptionResult, UserMessageInput, UserMessageItem, WidgetItem,
};
use chatkit_store::{AttachmentStore, Store};

use crate::actions::ActionRegistry;
use crate::context::RequestContext;
use crate::error::{ChatKitError, StreamError};
use crate::sink::EventSink;

/// Everything a responder needs for one turn.
#[derive(Clone)]
pub struct Turn {
    /// The thread as stored when the turn began.
    pub thread: ThreadMetadata,
    /// The user message to answer; `None` when resuming after a client tool output or a
    /// structured input.
    pub input: Option<UserMessageItem>,
    /// The thread's recent items, oldest first, ending with `input` when there is one. Hidden
    /// items are included (they are model context).
    pub history: Vec<ThreadItem>,
    /// The caller, the request id and the request's `metadata`.
    pub context: RequestContext,
    /// The store, for responders that need more than `history` (scoped by `context.user`).
    pub store: Arc<dyn Store>,
    /// Where attachment bytes live, when attachments are enabled: the responder reads them
    /// (or gets expiring URLs for the model) through it.
    pub attachments: Option<Arc<dyn AttachmentStore>>,
}

/// A recorded audio clip to transcribe.
#[derive(Debug, Clone)]
pub struct AudioInput {
    pub data: Vec<u8>,
    /// As sent, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
}

impl AudioInput {
    /// The media type without parameters (`audio/webm`).
    pub fn media_type(&self) -> &str {
        self.mime_type.split(';').next().unwrap_or("").trim()
    }
}

/// Agent logic. Only [`Responder::respond`] is required; everything else has the reference
/// SDK's default behaviour. Handlers emit events through the [`EventSink`]; the server
/// persists items (`done`, `replaced`, `removed`) before sending them, hides hidden items,
/// and turns an `Err` into a final `error` event.
#[async_trait]
pub trait Responder: Send + Sync + 'static {
    /// Answers a turn: after a user message, a client tool output or a structured input.
    async fn respond(&self, turn: Turn, events: EventSink) -> Result<(), StreamError>;

    /// Checks a new user message before anything is stored (`threads.create`,
    /// `threads.add_user_message`): an error is the request's answer, e.g. a 400 for a
    /// composer model that is not offered. The default accepts everything.
    fn check_input(
        &self,
        input: &UserMessageInput,
        context: &RequestContext,
    ) -> Result<(), ChatKitError> {
        let _ = (input, context);
        Ok(())
    }

    /// The action handlers of this responder, keyed by action type. When it returns one (and
    /// the server was not given its own), `threads.custom_action` and
    /// `threads.sync_custom_action` dispatch through it and an unknown type is a 400;
    /// otherwise they go to [`Responder::action`] / [`Responder::sync_action`].
    fn actions(&self) -> Option<&ActionRegistry> {
        None
    }

    /// Handles `threads.custom_action` (streamed) when no [`ActionRegistry`] is in use.
    /// `sender` is the widget that fired it.
    async fn action(
        &self,
        turn: Turn,
        action: Action,
        sender: Option<WidgetItem>,
        events: EventSink,
    ) -> Result<(), StreamError> {
        let _ = (turn, sender, events);
        Err(StreamError::custom(
            format!("the action `{}` is not supported by this server", action.kind),
            false,
        ))
    }

    /// Handles `threads.sync_custom_action`. The server does not persist the returned item.
    async fn sync_action(
        &self,
        context: &RequestContext,
        thread: &ThreadMetadata,
        action: Action,
        sender: Option<WidgetItem>,
    ) -> Result<SyncCustomActionResponse, ChatKitError> {
        let _ = (context, thread, sender);
        Err(ChatKitError::BadRequest {
            message: format!(
                "the action `{}` is not supported by this server",
                action.kind.chars().take(100).collect::<String>()
            ),
            field: Some("params.action.type".into()),
        })
    }

    /// Called after `items.feedback` was stored.
    async fn add_feedback(
        &self,
        context: &RequestContext,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> Result<(), ChatKitError> {
        let _ = (context, thread_id, item_ids, kind);
        Ok(())
    }

    /// Handles `input.transcribe`.
    async fn transcribe(
        &self,
        context: &RequestContext,
        audio: AudioInput,
    ) -> Result<TranscriptionResult, ChatKitError> {
        let _ = (context, audio);
        Err(ChatKitError::NotImplemented("dictation is not enabled on this server".into()))
    }

    /// Sent first in every respond/action stream.
    fn stream_options(&self, thread: &ThreadMetadata, context: &RequestContext) -> StreamOptions {
        let _ = (thread, context);
        StreamOptions::default()
    }

    /// Called when the client went away mid-stream, with the items that were added but not
    /// done (assistant messages carry the text streamed so far). Returns the items to store;
    /// the default keeps assistant messages with text and adds the reference SDK's hidden
    /// "user cancelled" note.
    fn on_cancelled(&self, thread: &ThreadMetadata, pending: Vec<ThreadItem>) -> Vec<ThreadItem> {
        crate::pipeline::default_cancelled_items(thread, pending)
    }
}

/// The responder of a function that runs no turns (`threads`, docs/functions.md): its server
/// serves only operations that never call [`Responder::respond`], refusing the others as
/// `wrong_function` before they reach it.
pub struct NoResponder;

#[async_trait]
impl Responder for NoResponder {
    async fn respond(&self, _turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        Err(StreamError::custom("this function does not run turns", false))
    }
}
