//! What responders, tools and action handlers emit besides messages: widgets (whole, or
//! streamed with updates), `client_effect` and `notice`.

use chatkit_protocol::events::NoticeLevel;
use chatkit_protocol::widgets::{append_text, replace_component, validate_widget};
use chatkit_protocol::{
    timestamp, AssistantMessageContent, AssistantMessageItem, ThreadItemUpdate, ThreadStreamEvent,
    WidgetItem,
};
use serde_json::{Map, Value};
use tracing::warn;

use crate::sink::{EventSink, StreamClosed};

impl EventSink {
    fn widget_item(&self, widget: Value, copy_text: Option<String>) -> WidgetItem {
        WidgetItem {
            id: self.new_id("msg"),
            thread_id: self.thread_id().to_string(),
            created_at: timestamp::now(),
            widget,
            copy_text,
        }
    }

    /// Shows a widget (`thread.item.done`, stored first). The tree is checked first: an
    /// invalid one is never sent; `copy_text`, when given, is shown as a plain assistant
    /// message instead. Returns the widget item, or `None` when it fell back.
    pub async fn widget(
        &self,
        widget: impl Into<Value>,
        copy_text: Option<String>,
    ) -> Result<Option<WidgetItem>, StreamClosed> {
        let widget = widget.into();
        if let Err(err) = validate_widget(&widget) {
            warn!(error = %err, "invalid widget not shown");
            if let Some(text) = copy_text {
                self.text(text).await?;
            }
            return Ok(None);
        }
        let item = self.widget_item(widget, copy_text);
        self.done(item.clone()).await?;
        Ok(Some(item))
    }

    /// Starts a widget that is updated while it shows (`thread.item.added`); `None` when the
    /// first tree is invalid (nothing is sent).
    pub async fn stream_widget(
        &self,
        widget: impl Into<Value>,
    ) -> Result<Option<WidgetStream>, StreamClosed> {
        let widget = widget.into();
        if let Err(err) = validate_widget(&widget) {
            warn!(error = %err, "invalid widget not shown");
            return Ok(None);
        }
        let item = self.widget_item(widget, None);
        self.emit(ThreadStreamEvent::ItemAdded { item: item.clone().into() }).await?;
        Ok(Some(WidgetStream { sink: self.clone(), item }))
    }

    /// A complete assistant message with `text` (stored).
    pub async fn text(&self, text: impl Into<String>) -> Result<(), StreamClosed> {
        let item = AssistantMessageItem {
            id: self.new_id("msg"),
            thread_id: self.thread_id().to_string(),
            created_at: timestamp::now(),
            content: vec![AssistantMessageContent::text(text)],
        };
        self.done(item).await
    }

    /// A fire-and-forget `client_effect`: the page gets it in `onEffect` / the
    /// `chatkit.effect` event. `data` that is not an object is sent as `{"value": data}`.
    pub async fn client_effect(
        &self,
        name: impl Into<String>,
        data: Value,
    ) -> Result<(), StreamClosed> {
        let data = match data {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        self.emit(ThreadStreamEvent::ClientEffect { name: name.into(), data }).await
    }

    /// A `notice` banner (`message` is Markdown).
    pub async fn notice(
        &self,
        level: NoticeLevel,
        message: impl Into<String>,
        title: Option<String>,
    ) -> Result<(), StreamClosed> {
        self.emit(ThreadStreamEvent::Notice { level, message: message.into(), title }).await
    }
}

/// A widget being updated on screen; [`WidgetStream::finish`] stores its final state.
pub struct WidgetStream {
    sink: EventSink,
    item: WidgetItem,
}

impl WidgetStream {
    pub fn item(&self) -> &WidgetItem {
        &self.item
    }

    async fn update(&self, update: ThreadItemUpdate) -> Result<(), StreamClosed> {
        self.sink
            .emit(ThreadStreamEvent::ItemUpdated { item_id: self.item.id.clone(), update })
            .await
    }

    /// Appends to the `value` of the Text/Markdown with `component_id`
    /// (`widget.streaming_text.value_delta`); `done` ends its streaming state. Ignored
    /// (logged) when there is no such component.
    pub async fn append_text(
        &mut self,
        component_id: &str,
        delta: &str,
        done: bool,
    ) -> Result<(), StreamClosed> {
        if !append_text(&mut self.item.widget, component_id, delta, done) {
            warn!(component_id, "no streamable text component with that id");
            return Ok(());
        }
        let update = ThreadItemUpdate::WidgetTextDelta {
            component_id: component_id.into(),
            delta: delta.into(),
            done,
        };
        self.update(update).await
    }

    /// Replaces one component (`widget.component.updated`); ignored (logged) when there is
    /// no such component or the result would be invalid.
    pub async fn update_component(
        &mut self,
        component_id: &str,
        component: Value,
    ) -> Result<(), StreamClosed> {
        let mut next = self.item.widget.clone();
        if !replace_component(&mut next, component_id, component.clone())
            || validate_widget(&next).is_err()
        {
            warn!(component_id, "widget component update refused (no such component, or invalid)");
            return Ok(());
        }
        self.item.widget = next;
        self.update(ThreadItemUpdate::WidgetComponentUpdated {
            component_id: component_id.into(),
            component,
        })
        .await
    }

    /// Replaces the whole tree (`widget.root.updated`); an invalid tree is refused (logged).
    pub async fn replace_root(&mut self, widget: Value) -> Result<(), StreamClosed> {
        if let Err(err) = validate_widget(&widget) {
            warn!(error = %err, "widget root update refused");
            return Ok(());
        }
        self.item.widget = widget.clone();
        self.update(ThreadItemUpdate::WidgetRootUpdated { widget }).await
    }

    /// Sends `thread.item.done` with the final tree (stored) and returns the item.
    pub async fn finish(mut self, copy_text: Option<String>) -> Result<WidgetItem, StreamClosed> {
        self.item.copy_text = copy_text;
        self.sink.done(self.item.clone()).await?;
        Ok(self.item)
    }
}
