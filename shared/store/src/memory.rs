//! An in-memory [`Store`]: for tests and local experiments. It passes the same contract suite
//! as the DynamoDB store; data is lost when the process exits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use chatkit_protocol::{Attachment, FeedbackKind, Order, Page, ThreadItem, ThreadMetadata};

use crate::ids::sort_key;
use crate::{
    is_pending, AttachmentRecords, Backend, FeedbackStore, IdempotencyKey, PageRequest, StoreError,
    StoreResult, ThreadStore, ThreadWithItems, TurnControl, UserId,
};

#[derive(Debug, Clone)]
struct ThreadEntry {
    meta: ThreadMetadata,
    items: BTreeMap<String, ThreadItem>,
    feedback: BTreeMap<String, FeedbackKind>,
}

/// A write made once: its thread, item and the end of its window.
#[derive(Debug, Clone)]
struct Once {
    thread_id: String,
    item_id: String,
    until: Instant,
}

#[derive(Debug, Default)]
struct Data {
    threads: BTreeMap<(UserId, String), ThreadEntry>,
    attachments: BTreeMap<(UserId, String), Attachment>,
    once: BTreeMap<(UserId, String), Once>,
    cancelled: std::collections::BTreeSet<(UserId, String)>,
}

impl Data {
    /// Claims `key` for `thread_id`/`item_id`, or says which write already holds it.
    fn claim(
        &mut self,
        user: &UserId,
        key: &IdempotencyKey,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<()> {
        let now = Instant::now();
        let slot = (user.clone(), key.key.clone());
        if let Some(held) = self.once.get(&slot).filter(|o| o.until > now) {
            return Err(StoreError::Duplicate {
                thread_id: held.thread_id.clone(),
                item_id: held.item_id.clone(),
            });
        }
        let until = now + key.window;
        self.once.insert(
            slot,
            Once { thread_id: thread_id.to_string(), item_id: item_id.to_string(), until },
        );
        Ok(())
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    requests: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored, as text: lets tests check that records were left untouched.
    pub fn snapshot(&self) -> String {
        format!("{:#?}", *self.data.lock().unwrap())
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.requests.fetch_add(1, AtomicOrdering::Relaxed);
        crate::meter::record_store_request();
        self.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn thread_key(user: &UserId, thread_id: &str) -> Option<(UserId, String)> {
    sort_key(thread_id).map(|k| (user.clone(), k.to_string()))
}

fn item_key(item_id: &str) -> StoreResult<String> {
    sort_key(item_id)
        .map(str::to_string)
        .ok_or_else(|| StoreError::InvalidId { kind: "item", id: item_id.to_string() })
}

fn cursor_key(page: &PageRequest) -> StoreResult<Option<String>> {
    match &page.after {
        None => Ok(None),
        Some(after) => sort_key(after)
            .map(|k| Some(k.to_string()))
            .ok_or_else(|| StoreError::InvalidId { kind: "cursor", id: after.clone() }),
    }
}

/// Pages `(sort key, value)` pairs given in ascending key order.
pub(crate) fn paginate<'a, T: Clone + 'a>(
    entries: impl DoubleEndedIterator<Item = (&'a String, &'a T)>,
    page: &PageRequest,
    id_of: impl Fn(&T) -> String,
) -> StoreResult<Page<T>> {
    let cursor = cursor_key(page)?;
    let ordered: Box<dyn Iterator<Item = (&String, &T)>> = match page.order {
        Order::Asc => Box::new(entries),
        Order::Desc => Box::new(entries.rev()),
    };
    let mut data: Vec<T> = ordered
        .filter(|(key, _)| match (&cursor, page.order) {
            (None, _) => true,
            (Some(c), Order::Asc) => key.as_str() > c.as_str(),
            (Some(c), Order::Desc) => key.as_str() < c.as_str(),
        })
        .take(page.limit + 1)
        .map(|(_, v)| v.clone())
        .collect();
    let has_more = data.len() > page.limit;
    data.truncate(page.limit);
    let after = if has_more { data.last().map(&id_of) } else { None };
    Ok(Page { data, has_more, after })
}

#[async_trait]
impl ThreadStore for MemoryStore {
    async fn load_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<ThreadMetadata> {
        let data = self.lock();
        thread_key(user, thread_id)
            .and_then(|k| data.threads.get(&k))
            .map(|t| t.meta.clone())
            .ok_or_else(|| StoreError::thread_not_found(thread_id))
    }

    async fn load_thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems> {
        let data = self.lock();
        let entry = thread_key(user, thread_id)
            .and_then(|k| data.threads.get(&k))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let items = paginate(entry.items.iter(), page, |i: &ThreadItem| i.id().to_string())?;
        Ok(ThreadWithItems { thread: entry.meta.clone(), items })
    }

    async fn create_thread(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
    ) -> StoreResult<()> {
        let key = thread_key(user, &thread.id)
            .ok_or_else(|| StoreError::InvalidId { kind: "thread", id: thread.id.clone() })?;
        let items = items
            .iter()
            .map(|i| Ok((item_key(i.id())?, i.clone())))
            .collect::<StoreResult<BTreeMap<_, _>>>()?;
        let entry = ThreadEntry { meta: thread.clone(), items, feedback: BTreeMap::new() };
        self.lock().threads.insert(key, entry);
        Ok(())
    }

    async fn save_thread(&self, user: &UserId, thread: &ThreadMetadata) -> StoreResult<()> {
        let key = thread_key(user, &thread.id)
            .ok_or_else(|| StoreError::InvalidId { kind: "thread", id: thread.id.clone() })?;
        let mut data = self.lock();
        let entry =
            data.threads.get_mut(&key).ok_or_else(|| StoreError::thread_not_found(&thread.id))?;
        entry.meta = thread.clone();
        Ok(())
    }

    async fn list_threads(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>> {
        let data = self.lock();
        let mine: BTreeMap<&String, &ThreadMetadata> = data
            .threads
            .iter()
            .filter(|((u, _), _)| u == user)
            .map(|((_, k), t)| (k, &t.meta))
            .collect();
        paginate(mine.into_iter(), page, |t: &ThreadMetadata| t.id.clone())
    }

    /// Removes the thread, its items and feedback, and the attachments that belong to it, at
    /// once (what thread cleanup does later for the DynamoDB store).
    async fn delete_thread(&self, user: &UserId, thread_id: &str) -> StoreResult<()> {
        let mut data = self.lock();
        thread_key(user, thread_id)
            .and_then(|k| data.threads.remove(&k))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        data.attachments.retain(|(owner, _), a| owner != user || a.thread_id() != Some(thread_id));
        Ok(())
    }

    async fn load_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item_id: &str,
    ) -> StoreResult<ThreadItem> {
        let data = self.lock();
        let entry = thread_key(user, thread_id).and_then(|k| data.threads.get(&k));
        entry
            .zip(sort_key(item_id))
            .and_then(|(t, k)| t.items.get(k))
            .cloned()
            .ok_or_else(|| StoreError::item_not_found(item_id))
    }

    async fn save_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        let key = item_key(item.id())?;
        let mut data = self.lock();
        let entry = thread_key(user, thread_id)
            .and_then(|k| data.threads.get_mut(&k))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        entry.items.insert(key, item.clone());
        Ok(())
    }

    async fn complete_item(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
    ) -> StoreResult<()> {
        let slot = item_key(item.id())?;
        let mut data = self.lock();
        let entry = thread_key(user, thread_id)
            .and_then(|k| data.threads.get_mut(&k))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let stored =
            entry.items.get_mut(&slot).ok_or_else(|| StoreError::item_not_found(item.id()))?;
        if !is_pending(stored) {
            return Err(StoreError::Conflict { kind: "item", id: item.id().to_string() });
        }
        *stored = item.clone();
        Ok(())
    }

    async fn delete_items(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
    ) -> StoreResult<()> {
        let mut data = self.lock();
        if let Some(entry) = thread_key(user, thread_id).and_then(|k| data.threads.get_mut(&k)) {
            for id in item_ids {
                if let Some(key) = sort_key(id) {
                    entry.items.remove(key);
                    entry.feedback.remove(id);
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TurnControl for MemoryStore {
    async fn create_thread_once(
        &self,
        user: &UserId,
        thread: &ThreadMetadata,
        items: &[ThreadItem],
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        let key_slot = thread_key(user, &thread.id)
            .ok_or_else(|| StoreError::InvalidId { kind: "thread", id: thread.id.clone() })?;
        let entries = items
            .iter()
            .map(|i| Ok((item_key(i.id())?, i.clone())))
            .collect::<StoreResult<BTreeMap<_, _>>>()?;
        let mut data = self.lock();
        let first = items.first().map(|i| i.id().to_string()).unwrap_or_default();
        data.claim(user, key, &thread.id, &first)?;
        data.threads.insert(
            key_slot,
            ThreadEntry { meta: thread.clone(), items: entries, feedback: BTreeMap::new() },
        );
        Ok(())
    }

    async fn save_item_once(
        &self,
        user: &UserId,
        thread_id: &str,
        item: &ThreadItem,
        key: &IdempotencyKey,
    ) -> StoreResult<()> {
        let slot = item_key(item.id())?;
        let mut data = self.lock();
        let exists = thread_key(user, thread_id).is_some_and(|k| data.threads.contains_key(&k));
        if !exists {
            return Err(StoreError::thread_not_found(thread_id));
        }
        data.claim(user, key, thread_id, item.id())?;
        if let Some(entry) = thread_key(user, thread_id).and_then(|k| data.threads.get_mut(&k)) {
            entry.items.insert(slot, item.clone());
        }
        Ok(())
    }

    async fn release_key(&self, user: &UserId, key: &IdempotencyKey) -> StoreResult<()> {
        self.lock().once.remove(&(user.clone(), key.key.clone()));
        Ok(())
    }

    async fn request_cancel(&self, user: &UserId, turn_id: &str) -> StoreResult<()> {
        self.lock().cancelled.insert((user.clone(), turn_id.to_string()));
        Ok(())
    }

    async fn is_cancelled(&self, user: &UserId, turn_id: &str) -> StoreResult<bool> {
        Ok(self.lock().cancelled.contains(&(user.clone(), turn_id.to_string())))
    }
}

#[async_trait]
impl AttachmentRecords for MemoryStore {
    async fn save_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        let key = (user.clone(), attachment.id().to_string());
        self.lock().attachments.insert(key, attachment.clone());
        Ok(())
    }

    async fn load_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<Attachment> {
        let key = (user.clone(), attachment_id.to_string());
        self.lock()
            .attachments
            .get(&key)
            .cloned()
            .ok_or_else(|| StoreError::attachment_not_found(attachment_id))
    }

    async fn delete_attachment(&self, user: &UserId, attachment_id: &str) -> StoreResult<()> {
        let key = (user.clone(), attachment_id.to_string());
        self.lock()
            .attachments
            .remove(&key)
            .map(drop)
            .ok_or_else(|| StoreError::attachment_not_found(attachment_id))
    }
}

#[async_trait]
impl FeedbackStore for MemoryStore {
    async fn save_feedback(
        &self,
        user: &UserId,
        thread_id: &str,
        item_ids: &[String],
        kind: FeedbackKind,
    ) -> StoreResult<()> {
        let mut data = self.lock();
        let entry = thread_key(user, thread_id)
            .and_then(|k| data.threads.get_mut(&k))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        if let Some(missing) =
            item_ids.iter().find(|id| sort_key(id).is_none_or(|k| !entry.items.contains_key(k)))
        {
            return Err(StoreError::item_not_found(missing));
        }
        for id in item_ids {
            entry.feedback.insert(id.clone(), kind);
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for MemoryStore {
    fn request_count(&self) -> u64 {
        self.requests.load(AtomicOrdering::Relaxed)
    }
}
