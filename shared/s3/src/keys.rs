//! Object keys: where an attachment's bytes are uploaded and where they are served from.

use chatkit_protocol::Attachment;
use chatkit_store::UserId;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every served object key starts with this.
pub const KEY_PREFIX: &str = "attachments/";
/// Every upload key starts with this (the upload URLs write only here).
pub const UPLOAD_PREFIX: &str = "uploads/";
/// The object key of attachments made before keys were recorded:
/// `attachments/<32 hex of SHA-256(user)>/<id>`.
pub fn legacy_object_key(user: &UserId, attachment_id: &str) -> String {
    let digest = Sha256::digest(user.as_str().as_bytes());
    let hash: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{hash}/{attachment_id}")
}

/// The key its bytes are served from: the one recorded when it was made, else the legacy one.
pub fn served_key(user: &UserId, attachment: &Attachment) -> String {
    let recorded = attachment.metadata().and_then(|m| m.get("key")).and_then(Value::as_str);
    match recorded {
        Some(key) if key.starts_with(KEY_PREFIX) && key.ends_with(attachment.id()) => {
            key.to_string()
        }
        _ => legacy_object_key(user, attachment.id()),
    }
}

/// The key its upload URL writes: the served key under [`UPLOAD_PREFIX`].
pub fn upload_key(user: &UserId, attachment: &Attachment) -> String {
    let served = served_key(user, attachment);
    format!("{UPLOAD_PREFIX}{}", &served[KEY_PREFIX.len()..])
}
