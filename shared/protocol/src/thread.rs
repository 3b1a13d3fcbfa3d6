//! Threads, their status, and pages of results.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::items::ThreadItem;
use crate::timestamp::{self, Timestamp};

/// Whether the composer is usable. Status only changes the UI; the server enforces nothing.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThreadStatus {
    #[default]
    Active,
    Locked {
        reason: Option<String>,
    },
    Closed {
        reason: Option<String>,
    },
}

/// A thread without its items: what the store keeps.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMetadata {
    pub title: Option<String>,
    pub id: String,
    #[serde(with = "timestamp")]
    pub created_at: Timestamp,
    #[serde(default)]
    pub status: ThreadStatus,
    pub allowed_image_domains: Option<Vec<String>>,
    /// Server-private data. Persisted, never sent: the wire always shows `{}`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl ThreadMetadata {
    /// A new, untitled, active thread.
    pub fn new(id: impl Into<String>, created_at: Timestamp) -> Self {
        Self {
            title: None,
            id: id.into(),
            created_at,
            status: ThreadStatus::Active,
            allowed_image_domains: None,
            metadata: Map::new(),
        }
    }

    /// The thread as sent to the client: private metadata dropped, with the given items.
    pub fn to_wire(&self, items: Page<ThreadItem>) -> Thread {
        Thread {
            title: self.title.clone(),
            id: self.id.clone(),
            created_at: self.created_at,
            status: self.status.clone(),
            allowed_image_domains: self.allowed_image_domains.clone(),
            metadata: Map::new(),
            items,
        }
    }
}

/// A thread with a page of its items, as returned by `threads.get_by_id` and in thread events.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub title: Option<String>,
    pub id: String,
    #[serde(with = "timestamp")]
    pub created_at: Timestamp,
    #[serde(default)]
    pub status: ThreadStatus,
    pub allowed_image_domains: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub items: Page<ThreadItem>,
}

/// One page of a cursor-paginated listing. `after` is the last element's id, set only when
/// `has_more` is true.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
    pub after: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self { data: Vec::new(), has_more: false, after: None }
    }
}

impl<T> Page<T> {
    /// Maps the elements, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
            after: self.after,
        }
    }
}

/// Sort order of a listing, by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}
