//! The store contract the ChatKit server needs, and an in-memory implementation.
//!
//! Every method takes the [`UserId`] whose data it touches, and every record is keyed by it:
//! one user can never read or change another's thread, item or attachment, even with a
//! correct id. A thread another user owns is indistinguishable from a missing one.

mod attachments;
pub mod ids;
mod memory;
pub mod meter;

/// The store capability traits, for code that calls them on a concrete store.
pub mod prelude {
    pub use crate::{AttachmentRecords, Backend, FeedbackStore, ThreadStore, TurnControl};
}
pub mod usage;

use std::time::Duration;

use async_trait::async_trait;
use chatkit_protocol::{
    Attachment, FeedbackKind, Order, Page, StructuredInputStatus, ThreadItem, ThreadMetadata,
    ToolCallStatus,
};

pub use attachments::{AttachmentBytes, AttachmentStore};
pub use memory::MemoryStore;
pub use usage::{Admission, Limit, MemoryUsage, Usage, UsageLimits, UsageStore};

/// The authenticated user whose data a request touches. Build it only from a verified
/// identity (a token's `sub`), never from request params.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Default and fallback page size.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest page: a larger `limit` is clamped to this, so no request reads a whole partition.
pub const MAX_PAGE_SIZE: usize = 100;
/// Longest turn id (`turns.cancel`): turn ids are request ids (a Lambda request id, a ULID).
pub const MAX_TURN_ID_BYTES: usize = 128;

/// Whether `id` can name a turn: 1 to [`MAX_TURN_ID_BYTES`] ASCII letters, digits, `-`, `_`.
pub fn is_turn_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TURN_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Most items one `save_feedback` may rate (one backend request).
pub const MAX_FEEDBACK_ITEMS: usize = 50;

/// One page of a listing: `after` is the exclusive cursor (the last id of the previous page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
    pub order: Order,
}

impl PageRequest {
    /// A request for the first page; a `limit` of 0 means [`DEFAULT_PAGE_SIZE`], and one above
    /// [`MAX_PAGE_SIZE`] is clamped to it.
    pub fn new(limit: usize, order: Order) -> Self {
        let limit = if limit == 0 { DEFAULT_PAGE_SIZE } else { limit.min(MAX_PAGE_SIZE) };
        Self { after: None, limit, order }
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }
}

/// A thread and one page of its items (hidden items included).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadWithItems {
    pub thread: ThreadMetadata,
    pub items: Page<ThreadItem>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record for this user (also: it belongs to someone else).
    #[error("{kind} not found: {}", chatkit_protocol::ids::echo(id))]
    NotFound { kind: &'static str, id: String },
    /// A record id the store cannot key (ids must come from [`ids::new_id`]).
    #[error(
        "invalid {kind} id `{}`: ids must be `<prefix>_<ULID>` as made by generate_id",
        chatkit_protocol::ids::echo(id)
    )]
    InvalidId { kind: &'static str, id: String },
    /// A record too large for the backend even once compressed (nothing was written).
    #[error("{what} is too large to store: {size} bytes once encoded, the limit is {limit}")]
    TooLarge { what: &'static str, size: usize, limit: usize },
    /// The item is no longer pending: another request completed it first.
    #[error("{kind} {id} is no longer pending: another request completed it")]
    Conflict { kind: &'static str, id: String },
    /// A write with the same idempotency key was made within its window: the earlier one's
    /// thread and item.
    #[error("a duplicate of a message already received (thread {thread_id}, item {item_id})")]
    Duplicate { thread_id: String, item_id: String },
    /// The caller's input is unusable (an upload that does not match what was declared, a
    /// type that is not accepted): the request's fault, naming the field when there is one.
    #[error("{message}")]
    Invalid { message: String, field: Option<String> },
    /// The caller's input is over a size limit (an attachment larger than allowed).
    #[error("{message}")]
    InputTooLarge { message: String, field: Option<String> },
    /// A failure worth retrying (throttling, timeouts, network).
    #[error("store temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("store failure: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn thread_not_found(id: &str) -> Self {
        StoreError::NotFound { kind: "thread", id: id.to_string() }
    }
    pub fn item_not_found(id: &str) -> Self {
        StoreError::NotFound { kind: "item", id: id.to_string() }
    }
    /// [`StoreError::Invalid`] without a field.
    pub fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid { message: message.into(), field: None }
    }
    pub fn attachment_not_found(id: &str) -> Self {
        StoreError::NotFound { kind: "attachment", id: id.to_string() }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Names a request that must be written at most once: the same key within `window` is a
/// duplicate. Make it from a client's `Idempotency-Key` (long window) or from a hash of the
/// input (short window, catches double submits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Up to 128 printable ASCII characters, unique per user (a hex digest, say).
    pub key: String,
    pub window: Duration,
}

/// Whether an item waits for the user: a pending client tool call or structured input. Such
/// an item is completed once, by [`ThreadStore::complete_item`].
pub fn is_pending(item: &ThreadItem) -> bool {
    match item {
        ThreadItem::ClientToolCall(call) => call.status == ToolCallStatus::Pending,
        ThreadItem::StructuredInput(input) => input.status == StructuredInputStatus::Pending,
        _ => false,
    }
}

/// Persistence for threads, items, attachment metadata and feedback.
///
/// Ordering is by id ([`ids`]), which is time-ordered; ties cannot happen. Cursors are ids,
/// exclusive. `has_more` is exact, and `after` is set (to the last id of the page) only when
/// `has_more` is true. Item ids and thread ids must be `<prefix>_<ULID>`
/// ([`StoreError::InvalidId`] otherwise), except that a malformed id in a *lookup* is simply
/// not found.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    /// The thread's metadata.
    async fn load_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<ThreadMetadata>;

    /// The thread and one page of its items, in one backend request. `NotFound` when the
    /// thread does not exist. Loads a turn (newest items, `Desc`), `threads.get_by_id`
    /// (oldest, `Asc`) and `items.list`.
    async fn load_thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems>;

    /// Writes a new thread together with its first items (the user message), in one request.
    async fn create_thread(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<()>;

    /// Replaces the metadata (title, status, private metadata) of an existing thread.
    /// `NotFound` when the thread does not exist or is being deleted: a late write (a title,
    /// a rename) never brings a deleted thread back.
    async fn save_thread(&self, user: &UserId, thread: &ThreadMetadata) -> StoreResult<()>;

    /// The user's threads, one request.
    async fn list_threads(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>>;

    /// Deletes a thread and all its items and feedback. `NotFound` when it does not exist.
    async fn delete_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<()>;

    /// True when [`ThreadStore::delete_thread`] only marks the thread deleted, and a cleanup process
    /// (`functions/cleanup` on the table's stream) later removes its records and its
    /// attachments, bytes and metadata. False (the default): the caller deletes what the store
    /// does not know about (attachment bytes) itself.
    fn purges_deleted_threads_later(&self) -> bool {
        false
    }

    /// One item of a thread.
    async fn load_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<ThreadItem>;

    /// Upserts an item (insert on `done`, replace on `replaced`, tool output, …). `NotFound`
    /// when the thread does not exist or is being deleted; `TooLarge` when the item cannot be
    /// stored even compressed.
    async fn save_item(&self, user: &UserId, thread_id: &str, item: &ThreadItem)
        -> StoreResult<()>;

    /// Replaces a pending item ([`is_pending`] as stored) with its completed form. Of
    /// concurrent completions exactly one wins; the others get `Conflict`, as does completing
    /// an item that is not pending. `NotFound` when the thread or the item is missing.
    async fn complete_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()>;

    /// Deletes items (batched); ids that do not exist are ignored.
    async fn delete_items(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
    ) -> StoreResult<()>;
}

/// What keeps a turn from being written twice or running on after it was stopped: idempotency
/// claims on new threads and items, and `turns.cancel` flags.
#[async_trait]
pub trait TurnControl: Send + Sync {
    /// [`ThreadStore::create_thread`], unless a write with the same `key` was made within its window
    /// (`Duplicate`, nothing written). One backend request.
    async fn create_thread_once(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
        key: &IdempotencyKey,
    ) -> StoreResult<()>;

    /// [`ThreadStore::save_item`] of a new item, unless a write with the same `key` was made within
    /// its window (`Duplicate`, nothing written). One backend request.
    async fn save_item_once(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
        key: &IdempotencyKey,
    ) -> StoreResult<()>;

    /// Releases an idempotency key, so the same request may be made again (after its write was
    /// undone). One backend request; a key not held is fine.
    async fn release_key(&self, user: &UserId, key: &IdempotencyKey) -> StoreResult<()>;

    /// Asks running turn `turn_id` of `user` to stop (`turns.cancel`): a flag the turn checks
    /// while it runs, wherever it runs. Kept an hour. One backend request.
    async fn request_cancel(&self, user: &UserId, turn_id: &str) -> StoreResult<()>;

    /// Whether turn `turn_id` of `user` was asked to stop. One (eventually consistent) read.
    async fn is_cancelled(&self, user: &UserId, turn_id: &str) -> StoreResult<bool>;
}

/// Attachment metadata (the bytes live in an [`AttachmentStore`]).
#[async_trait]
pub trait AttachmentRecords: Send + Sync {
    /// Upserts attachment metadata.
    async fn save_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()>;

    /// Loads attachment metadata.
    async fn load_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<Attachment>;

    /// Deletes attachment metadata; `NotFound` when it does not exist.
    async fn delete_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<()>;
}

/// Thumbs up/down on items.
#[async_trait]
pub trait FeedbackStore: Send + Sync {
    /// Records a thumbs up/down on items of a thread (at most [`MAX_FEEDBACK_ITEMS`], in one
    /// backend request). `NotFound` when the user has no such thread or one of the items is
    /// not in it; nothing is written then.
    async fn save_feedback(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> StoreResult<()>;
}

/// The backend itself: what it was asked to do (for tests and cost checks; per request, see
/// [`meter`]) and a warm-up call.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Backend requests made so far (DynamoDB requests; one per call for the memory store).
    fn request_count(&self) -> u64;

    /// Microseconds those requests took, added up (0 when the backend does not measure).
    fn request_micros(&self) -> u64 {
        0
    }

    /// One cheap request that opens the backend's connection and resolves its credentials
    /// (warm-up during Lambda's init phase); nothing to do for an in-memory store.
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// Everything the server core needs from a store: the capabilities together. Implement the
/// capability traits; this one comes with them.
pub trait Store: ThreadStore + TurnControl + AttachmentRecords + FeedbackStore + Backend {}

impl<T> Store for T where
    T: ThreadStore + TurnControl + AttachmentRecords + FeedbackStore + Backend + ?Sized
{
}
