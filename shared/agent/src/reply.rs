//! One streamed assistant message: `thread.item.added` (empty) → `content_part.added` → a
//! `text_delta` per model delta, sent as it arrives → `content_part.done` →
//! `thread.item.done` with the annotations. The item id always comes from
//! `sink.new_id("msg")`, never from the model.

use chatkit_protocol::{
    timestamp, Annotation, AssistantMessageContent, AssistantMessageItem, ThreadItemUpdate,
    ThreadStreamEvent,
};
use chatkit_server::{EventSink, StreamClosed};

/// A message being streamed; nothing is emitted until the first delta or annotation.
pub struct Reply<'a> {
    sink: &'a EventSink,
    item: Option<AssistantMessageItem>,
    content: AssistantMessageContent,
}

impl<'a> Reply<'a> {
    pub fn new(sink: &'a EventSink) -> Self {
        Self { sink, item: None, content: AssistantMessageContent::text("") }
    }

    /// Whether `thread.item.added` was sent.
    pub fn started(&self) -> bool {
        self.item.is_some()
    }

    async fn update(&self, update: ThreadItemUpdate) -> Result<(), StreamClosed> {
        let item_id = self.item.as_ref().map(|i| i.id.clone()).unwrap_or_default();
        self.sink.emit(ThreadStreamEvent::ItemUpdated { item_id, update }).await
    }

    async fn start(&mut self) -> Result<(), StreamClosed> {
        if self.item.is_some() {
            return Ok(());
        }
        let item = AssistantMessageItem {
            id: self.sink.new_id("msg"),
            thread_id: self.sink.thread_id().to_string(),
            created_at: timestamp::now(),
            content: vec![],
        };
        self.sink.emit(ThreadStreamEvent::ItemAdded { item: item.clone().into() }).await?;
        self.item = Some(item);
        self.update(ThreadItemUpdate::ContentPartAdded {
            content_index: 0,
            content: AssistantMessageContent::text(""),
        })
        .await
    }

    /// Sends one `text_delta`.
    pub async fn delta(&mut self, delta: &str) -> Result<(), StreamClosed> {
        self.start().await?;
        self.content.text.push_str(delta);
        self.update(ThreadItemUpdate::TextDelta { content_index: 0, delta: delta.to_string() })
            .await
    }

    /// Sends `annotation_added` at the next index.
    pub async fn annotate(&mut self, annotation: Annotation) -> Result<(), StreamClosed> {
        self.start().await?;
        let annotation_index = self.content.annotations.len();
        self.content.annotations.push(annotation.clone());
        self.update(ThreadItemUpdate::AnnotationAdded {
            content_index: 0,
            annotation_index,
            annotation,
        })
        .await
    }

    /// Sends `content_part.done` and `thread.item.done` (persisted); returns the text, or
    /// `None` when nothing was streamed.
    pub async fn finish(mut self) -> Result<Option<String>, StreamClosed> {
        let Some(mut item) = self.item.take() else { return Ok(None) };
        self.item = Some(item.clone());
        self.update(ThreadItemUpdate::ContentPartDone {
            content_index: 0,
            content: self.content.clone(),
        })
        .await?;
        let text = self.content.text.clone();
        item.content = vec![self.content];
        self.sink.done(item).await?;
        Ok(Some(text))
    }

    /// The turn failed mid-message: sends `thread.item.removed`, so no half message is kept
    /// (the client drops what it showed; the store never had it).
    pub async fn abandon(self) -> Result<(), StreamClosed> {
        match self.item {
            Some(item) => self.sink.emit(ThreadStreamEvent::ItemRemoved { item_id: item.id }).await,
            None => Ok(()),
        }
    }
}
