//! The channel a responder emits events through.

use chatkit_protocol::{ThreadItem, ThreadMetadata, ThreadStreamEvent};
use chatkit_store::ids;
use tokio::sync::mpsc;

use crate::error::StreamError;

/// What a responder sends to the pipeline.
pub(crate) enum SinkMessage {
    Event(ThreadStreamEvent),
    UpdateThread(ThreadMetadata),
}

/// The client is gone (or the stream failed): stop producing events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the event stream is closed")]
pub struct StreamClosed;

impl From<StreamClosed> for StreamError {
    fn from(_: StreamClosed) -> Self {
        StreamError::transient("the event stream closed")
    }
}

/// Emits events into the response stream. Items are persisted by the server when their
/// `done` / `replaced` / `removed` event passes, before the client sees it.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<SinkMessage>,
    thread_id: String,
}

impl EventSink {
    pub(crate) fn new(tx: mpsc::Sender<SinkMessage>, thread_id: String) -> Self {
        Self { tx, thread_id }
    }

    /// The thread this stream belongs to (for new items' `thread_id`).
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// A new time-ordered id with the given prefix (`msg`, `tc`, `wf`, …). Items must use
    /// ids made here so the store can order them.
    pub fn new_id(&self, prefix: &str) -> String {
        ids::new_id(prefix)
    }

    /// Sends one event. Fails once the client has gone away.
    pub async fn emit(&self, event: ThreadStreamEvent) -> Result<(), StreamClosed> {
        self.tx.send(SinkMessage::Event(event)).await.map_err(|_| StreamClosed)
    }

    /// Replaces the thread's metadata (title, status, private metadata). When it differs from
    /// the stored one the server saves it and sends `thread.updated`.
    pub async fn update_thread(&self, thread: ThreadMetadata) -> Result<(), StreamClosed> {
        self.tx.send(SinkMessage::UpdateThread(thread)).await.map_err(|_| StreamClosed)
    }

    /// Sends `thread.item.done` for a finished item (persisted first).
    pub async fn done(&self, item: impl Into<ThreadItem>) -> Result<(), StreamClosed> {
        self.emit(ThreadStreamEvent::ItemDone { item: item.into() }).await
    }

    /// Sends a short-lived `progress_update`.
    pub async fn progress(
        &self,
        icon: Option<&str>,
        text: impl Into<String>,
    ) -> Result<(), StreamClosed> {
        self.emit(ThreadStreamEvent::ProgressUpdate {
            icon: icon.map(str::to_string),
            text: text.into(),
        })
        .await
    }
}
