//! File and image attachments of user messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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
/// `metadata` is the reference SDK's integration-private data (e.g. the declared size): it is
/// stored, and must be removed before the attachment is sent ([`Attachment::without_metadata`]).
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
        metadata: Option<Map<String, Value>>,
    },
    Image {
        id: String,
        name: String,
        mime_type: String,
        upload_descriptor: Option<UploadDescriptor>,
        thread_id: Option<String>,
        metadata: Option<Map<String, Value>>,
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
            Attachment::File { thread_id, .. } | Attachment::Image { thread_id, .. } => {
                thread_id.as_deref()
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Attachment::File { name, .. } | Attachment::Image { name, .. } => name,
        }
    }

    pub fn mime_type(&self) -> &str {
        match self {
            Attachment::File { mime_type, .. } | Attachment::Image { mime_type, .. } => mime_type,
        }
    }

    pub fn upload_descriptor(&self) -> Option<&UploadDescriptor> {
        match self {
            Attachment::File { upload_descriptor, .. }
            | Attachment::Image { upload_descriptor, .. } => upload_descriptor.as_ref(),
        }
    }

    /// Replaces (or, with `None`, drops) the upload descriptor.
    pub fn set_upload_descriptor(&mut self, descriptor: Option<UploadDescriptor>) {
        match self {
            Attachment::File { upload_descriptor, .. }
            | Attachment::Image { upload_descriptor, .. } => *upload_descriptor = descriptor,
        }
    }

    /// The integration-private metadata (never sent to clients).
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        match self {
            Attachment::File { metadata, .. } | Attachment::Image { metadata, .. } => {
                metadata.as_ref()
            }
        }
    }

    pub fn set_metadata(&mut self, value: Option<Map<String, Value>>) {
        match self {
            Attachment::File { metadata, .. } | Attachment::Image { metadata, .. } => {
                *metadata = value;
            }
        }
    }

    /// The attachment as it may be sent: the private metadata removed.
    pub fn without_metadata(mut self) -> Self {
        self.set_metadata(None);
        self
    }

    /// Records the thread that now references this attachment.
    pub fn set_thread_id(&mut self, thread: &str) {
        match self {
            Attachment::File { thread_id, .. } | Attachment::Image { thread_id, .. } => {
                *thread_id = Some(thread.to_string());
            }
        }
    }
}
