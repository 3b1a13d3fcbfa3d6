//! The store contract suite: one set of cases run against every [`Store`] implementation
//! (the in-memory store and the DynamoDB store on DynamoDB Local).
//!
//! Each case is a `pub async fn(&dyn StoreHarness)` that panics on a broken contract;
//! `tests/tests/store_contract.rs` runs each case once per backend.

mod attachments;
mod isolation;
mod items;
mod threads;

pub use attachments::*;
pub use isolation::*;
pub use items::*;
pub use threads::*;

use std::fmt::Debug;

use async_trait::async_trait;
use chatkit_protocol::timestamp::now;
use chatkit_protocol::{
    AssistantMessageContent, AssistantMessageItem, ClientToolCallItem, HiddenContextItem, Page,
    SdkHiddenContextItem, ThreadItem, ThreadMetadata, ToolCallStatus, UserMessageContent,
    UserMessageItem, WidgetItem,
};
use chatkit_store::ids::{new_id, prefix};
use chatkit_store::{MemoryStore, Store, StoreError, StoreResult, UserId};
use serde_json::json;

/// A store under test, and a way to see everything it holds.
#[async_trait]
pub trait StoreHarness: Send + Sync {
    fn store(&self) -> &dyn Store;
    /// Every record in the backend as stable text: equal snapshots mean nothing changed.
    async fn snapshot(&self) -> String;
    /// Lets the backend finish work it does after answering (thread cleanup).
    async fn settle(&self) {}
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryHarness(MemoryStore);

impl MemoryHarness {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl StoreHarness for MemoryHarness {
    fn store(&self) -> &dyn Store {
        &self.0
    }
    async fn snapshot(&self) -> String {
        self.0.snapshot()
    }
}

pub fn alice() -> UserId {
    UserId::new("alice")
}

pub fn bob() -> UserId {
    UserId::new("bob")
}

/// A new untitled thread.
pub fn new_thread() -> ThreadMetadata {
    ThreadMetadata::new(new_id(prefix::THREAD), now())
}

pub fn user_message(thread: &ThreadMetadata, text: &str) -> ThreadItem {
    UserMessageItem {
        id: new_id(prefix::MESSAGE),
        thread_id: thread.id.clone(),
        created_at: now(),
        content: vec![UserMessageContent::InputText { text: text.to_string() }],
        attachments: Vec::new(),
        quoted_text: None,
        inference_options: Default::default(),
    }
    .into()
}

pub fn assistant_message(thread: &ThreadMetadata, text: &str) -> ThreadItem {
    AssistantMessageItem {
        id: new_id(prefix::MESSAGE),
        thread_id: thread.id.clone(),
        created_at: now(),
        content: vec![AssistantMessageContent::text(text)],
    }
    .into()
}

/// Model context from the integration: awkward JSON (nulls, empty maps and strings, numbers).
pub fn hidden_context(thread: &ThreadMetadata) -> ThreadItem {
    HiddenContextItem {
        id: new_id(prefix::MESSAGE),
        thread_id: thread.id.clone(),
        created_at: now(),
        content: json!({"note": "", "n": 3, "f": 2.5, "neg": -7, "nil": null, "empty": {}, "list": [1, "x", true]}),
    }
    .into()
}

pub fn sdk_hidden_context(thread: &ThreadMetadata) -> ThreadItem {
    SdkHiddenContextItem {
        id: new_id(prefix::SDK_HIDDEN_CONTEXT),
        thread_id: thread.id.clone(),
        created_at: now(),
        content: "the user cancelled the response".to_string(),
    }
    .into()
}

pub fn widget(thread: &ThreadMetadata) -> ThreadItem {
    WidgetItem {
        id: new_id(prefix::MESSAGE),
        thread_id: thread.id.clone(),
        created_at: now(),
        widget: json!({"type": "Card", "children": [{"type": "Text", "value": "hi"}], "props": {}}),
        copy_text: Some("hi".to_string()),
    }
    .into()
}

pub fn client_tool_call(thread: &ThreadMetadata) -> ThreadItem {
    ClientToolCallItem {
        id: new_id(prefix::TOOL_CALL),
        thread_id: thread.id.clone(),
        created_at: now(),
        status: ToolCallStatus::Pending,
        call_id: "call_1".to_string(),
        name: "get_weather".to_string(),
        arguments: json!({"city": "Paris", "days": 2}).as_object().cloned().unwrap_or_default(),
        output: None,
    }
    .into()
}

/// Ids of a page's elements.
pub fn item_ids(page: &Page<ThreadItem>) -> Vec<String> {
    page.data.iter().map(|i| i.id().to_string()).collect()
}

pub fn thread_ids(page: &Page<ThreadMetadata>) -> Vec<String> {
    page.data.iter().map(|t| t.id.clone()).collect()
}

pub fn ids_of(items: &[ThreadItem]) -> Vec<String> {
    items.iter().map(|i| i.id().to_string()).collect()
}

/// Asserts `NotFound`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Asserts `InvalidId`.
#[track_caller]
pub fn assert_invalid_id<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::InvalidId { .. }) => {}
        other => panic!("{what}: expected InvalidId, got {other:?}"),
    }
}

/// Creates a thread for `user` with `items` (the first in the create call, the rest saved).
pub async fn seed_thread(
    h: &dyn StoreHarness,
    user: &UserId,
    thread: &ThreadMetadata,
    items: &[ThreadItem],
) {
    let (first, rest) = items.split_at(items.len().min(1));
    h.store().create_thread(user, thread, first).await.expect("create_thread");
    for item in rest {
        h.store().save_item(user, &thread.id, item).await.expect("save_item");
    }
}
