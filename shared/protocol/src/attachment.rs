//! File and image attachments of user messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// Where and how the client uploads an attachment's bytes (two-phase uploads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadDescriptor {
    pub url: String,
    pub method: UploadMethod,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// HTTP method for an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadMethod {
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
}

/// An attachment. `thread_id` is set once a message in that thread references it.
///
/// The reference SDK's integration-private `metadata` is not modelled: it is never sent, and
/// unknown keys are ignored on input.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Attachment {
    File {
        id: String,
        name: String,
        mime_type: String,
        upload_descriptor: Option<UploadDescriptor>,
        thread_id: Option<String>,
    },
    Image {
        id: String,
        name: String,
        mime_type: String,
        upload_descriptor: Option<UploadDescriptor>,
        thread_id: Option<String>,
        preview_url: String,
    },
}

impl Attachment {
    pub fn id(&self) -> &str {
        match self {
            Attachment::File { id, .. } | Attachment::Image { id, .. } => id,
        }
    }

    pub fn thread_id(&self) -> Option<&str> {
        match self {
            Attachment::File { thread_id, .. } | Attachment::Image { thread_id, .. } => thread_id.as_deref(),
        }
    }

    /// Records the thread that now references this attachment.
    pub fn set_thread_id(&mut self, thread: &str) {
        match self {
            Attachment::File { thread_id, .. } | Attachment::Image { thread_id, .. } => {
                *thread_id = Some(thread.to_string())
            }
        }
    }
}
