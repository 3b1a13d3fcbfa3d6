//! `threads.create` starts the model call without waiting for the store: the write of the new
//! thread and its first message overlaps the model's first-token wait. Nothing is sent, and
//! nothing the turn makes is saved, before that write landed; a failed write stops the turn and
//! answers the request with the error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chatkit_protocol::{
    Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata, ThreadStreamEvent,
};
use chatkit_server::{
    ChatKitResponse, ChatKitServer, EventSink, RequestContext, Responder, StreamError, Turn,
};
use chatkit_store::{
    AttachmentRecords, Backend, FeedbackStore, IdempotencyKey, MemoryStore, PageRequest,
    StoreError, StoreResult, ThreadStore, ThreadWithItems, TurnControl, UserId,
};
use chatkit_tests::scripted::stream_reply;
use futures::StreamExt;
use tokio::sync::Notify;

use super::{create_body, types};

/// How long the store waits for the model call before writing anyway (only a broken overlap
/// waits that long).
const PATIENCE: Duration = Duration::from_secs(5);

/// The memory store, whose thread creation waits until the model was called (or
/// [`PATIENCE`] ran out), and then writes or fails.
struct WaitsForTheModel {
    inner: MemoryStore,
    model_called: Arc<Notify>,
    /// Set when the model was called before the thread was written.
    overlapped: AtomicBool,
    fail: bool,
}

impl WaitsForTheModel {
    async fn wait(&self) -> StoreResult<()> {
        if tokio::time::timeout(PATIENCE, self.model_called.notified()).await.is_ok() {
            self.overlapped.store(true, Ordering::SeqCst);
        }
        if self.fail {
            return Err(StoreError::Unavailable("injected: the thread write failed".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl ThreadStore for WaitsForTheModel {
    async fn load_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<ThreadMetadata> {
        self.inner.load_thread(user, thread_id).await
    }

    async fn load_thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems> {
        self.inner.load_thread_items(user, thread_id, page).await
    }

    async fn create_thread(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<()> {
        self.wait().await?;
        self.inner.create_thread(user, thread, items).await
    }

    async fn save_thread(&self, user: &UserId, thread: &ThreadMetadata) -> StoreResult<()> {
        self.inner.save_thread(user, thread).await
    }

    async fn list_threads(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>> {
        self.inner.list_threads(user, page).await
    }

    async fn delete_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<()> {
        self.inner.delete_thread(user, thread_id).await
    }

    async fn load_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<ThreadItem> {
        self.inner.load_item(user, thread_id, item_id).await
    }

    async fn save_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        self.inner.save_item(user, thread_id, item).await
    }

    async fn complete_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        self.inner.complete_item(user, thread_id, item).await
    }

    async fn delete_items(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
    ) -> StoreResult<()> {
        self.inner.delete_items(user, thread_id, item_ids).await
    }
}

#[async_trait]
impl TurnControl for WaitsForTheModel {
    async fn create_thread_once(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.wait().await?;
        self.inner.create_thread_once(user, thread, items, key).await
    }

    async fn save_item_once(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        self.inner.save_item_once(user, thread_id, item, key).await
    }

    async fn release_key(&self, user: &UserId, key: &IdempotencyKey) -> StoreResult<()> {
        self.inner.release_key(user, key).await
    }

    async fn request_cancel(&self, user: &UserId, turn_id: &str) -> StoreResult<()> {
        self.inner.request_cancel(user, turn_id).await
    }

    async fn is_cancelled(&self, user: &UserId, turn_id: &str) -> StoreResult<bool> {
        self.inner.is_cancelled(user, turn_id).await
    }
}

#[async_trait]
impl AttachmentRecords for WaitsForTheModel {
    async fn save_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        self.inner.save_attachment(user, attachment).await
    }

    async fn load_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<Attachment> {
        self.inner.load_attachment(user, attachment_id).await
    }

    async fn delete_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<()> {
        self.inner.delete_attachment(user, attachment_id).await
    }
}

#[async_trait]
impl FeedbackStore for WaitsForTheModel {
    async fn save_feedback(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> StoreResult<()> {
        self.inner.save_feedback(user, thread_id, item_ids, kind).await
    }
}

#[async_trait]
impl Backend for WaitsForTheModel {
    fn request_count(&self) -> u64 {
        self.inner.request_count()
    }
}

/// A model stand-in: says when it was called, answers at once (the whole reply is ready before
/// the thread is written), then, if `linger`, keeps the turn open; notes when it is stopped.
struct Model {
    called: Arc<Notify>,
    linger: bool,
    stopped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Responder for Model {
    async fn respond(&self, _turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let _stopped = SetOnDrop(self.stopped.clone());
        self.called.notify_one();
        stream_reply(&sink, &["Hello", " there"], Duration::ZERO).await?;
        if self.linger {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    }
}

struct Setup {
    server: ChatKitServer,
    store: Arc<WaitsForTheModel>,
    stopped: Arc<AtomicBool>,
}

fn setup(fail: bool, linger: bool) -> Setup {
    let called = Arc::new(Notify::new());
    let store = Arc::new(WaitsForTheModel {
        inner: MemoryStore::new(),
        model_called: called.clone(),
        overlapped: AtomicBool::new(false),
        fail,
    });
    let stopped = Arc::new(AtomicBool::new(false));
    let model = Arc::new(Model { called, linger, stopped: stopped.clone() });
    Setup { server: ChatKitServer::new(store.clone(), model), store, stopped }
}

async fn create(server: &ChatKitServer) -> Result<ChatKitResponse, chatkit_server::ChatKitError> {
    let body = serde_json::to_vec(&create_body("hello")).unwrap();
    server.process(&body, RequestContext::new(UserId::new("ada"), "req-overlap")).await
}

#[tokio::test]
async fn the_model_is_called_while_the_new_thread_is_written() {
    let s = setup(false, false);
    let Ok(ChatKitResponse::Stream(events)) = create(&s.server).await else {
        panic!("threads.create did not stream")
    };
    let events: Vec<ThreadStreamEvent> = events.collect().await;
    assert!(
        s.store.overlapped.load(Ordering::SeqCst),
        "the thread write waited {PATIENCE:?} for a model call that came only after it"
    );

    // the reply was ready before the thread existed: still, the stream starts as always, and the
    // reply is saved (after the thread)
    let kinds = types(&events);
    assert_eq!(&kinds[..3], ["thread.created", "thread.item.done", "stream_options"], "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"thread.item.done"), "{kinds:?}");
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else { unreachable!() };
    let page = PageRequest::new(20, Order::Asc);
    let stored =
        s.store.inner.load_thread_items(&UserId::new("ada"), &thread.id, &page).await.unwrap();
    let stored: Vec<String> = stored
        .items
        .data
        .iter()
        .map(|i| serde_json::to_value(i).unwrap()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, ["user_message", "assistant_message"]);
}

#[tokio::test]
async fn a_failed_thread_write_is_an_error_before_any_event_and_stops_the_turn() {
    let s = setup(true, true);
    let err = match create(&s.server).await {
        Err(err) => err,
        Ok(ChatKitResponse::Stream(events)) => panic!(
            "a stream started although the thread was not written: {:?}",
            events.collect::<Vec<_>>().await
        ),
        Ok(other) => panic!("{other:?}"),
    };
    assert!(
        s.store.overlapped.load(Ordering::SeqCst),
        "the model was not called before the thread write"
    );
    assert_eq!(err.status(), 503, "{err}");
    // the model call that was already running is stopped, and nothing of the turn is stored
    let stopped = async {
        while !s.stopped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the turn went on after its thread could not be written");
    let threads = s
        .store
        .inner
        .list_threads(&UserId::new("ada"), &PageRequest::new(20, Order::Desc))
        .await
        .unwrap();
    assert!(threads.data.is_empty(), "{:?}", threads.data);
}
