//! Attachments → model input: what the model gets for each attachment of the history.
//!
//! - Images (PNG, JPEG, GIF, WebP): an expiring URL the provider fetches, or, with
//!   `CHATKIT_ATTACHMENT_INLINE=1`, the bytes as a `data:` URL (for providers that cannot
//!   fetch URLs).
//! - PDFs: an `input_file` (URL, or `data:` URL when inline) on the Responses API; Chat
//!   Completions providers cannot read them, so they are named instead.
//! - Text (text/*, JSON, XML, YAML): the first `CHATKIT_ATTACHMENT_TEXT_MAX_BYTES` inlined.
//! - Anything else, or anything that cannot be read: named as an attachment the model could
//!   not read. Nothing is dropped silently.
//!
//! Cost per turn: presigning is local (no request); each inlined image or PDF and each text
//! file is one `GetObject`, run concurrently. At most [`MAX_RESOLVED`] attachments (the
//! newest) are resolved per turn; older ones are named.

use std::collections::HashMap;

use base64::Engine;
use chatkit_protocol::{Attachment, ThreadItem};
use chatkit_server::{AttachmentStore, Turn};
use chatkit_store::UserId;
use futures::future::join_all;

use crate::client::ModelApi;

/// Most attachments resolved per turn (newest first).
pub const MAX_RESOLVED: usize = 20;
/// Largest image or PDF sent inline (base64 in the request body).
pub const MAX_INLINE_BYTES: u64 = 20 * 1024 * 1024;

/// What the model gets for one attachment.
#[derive(Debug, Clone, PartialEq)]
pub enum AttachmentInput {
    /// An expiring `https` URL or a `data:` URL.
    Image { url: String },
    /// A PDF the provider reads: an expiring `https` URL or a `data:` URL.
    File { url: String },
    /// The file's text; `total_size` is set when only its beginning is included.
    Text { text: String, total_size: Option<u64> },
    /// Why the model cannot read it (it is still named in the input).
    Unreadable { reason: String },
}

/// Resolved attachments by id.
pub type AttachmentInputs = HashMap<String, AttachmentInput>;

/// How attachments are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentOptions {
    pub api: ModelApi,
    /// Send images and PDFs as `data:` URLs instead of expiring URLs.
    pub inline: bool,
    /// Most bytes of a text file inlined.
    pub text_max_bytes: u64,
}

enum Kind {
    Image,
    Pdf,
    Text,
    Other,
}

fn kind(mime: &str) -> Kind {
    match mime {
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => Kind::Image,
        "application/pdf" => Kind::Pdf,
        m if m.starts_with("text/")
            || m.ends_with("+json")
            || m.ends_with("+xml")
            || matches!(
                m,
                "application/json"
                    | "application/xml"
                    | "application/yaml"
                    | "application/x-yaml"
                    | "application/x-ndjson"
            ) =>
        {
            Kind::Text
        }
        _ => Kind::Other,
    }
}

/// Resolves the attachments of the turn's history (newest first, at most [`MAX_RESOLVED`]).
pub async fn resolve(turn: &Turn, options: &AttachmentOptions) -> AttachmentInputs {
    let mut wanted: Vec<&Attachment> = Vec::new();
    for item in turn.history.iter().rev() {
        if let ThreadItem::UserMessage(message) = item {
            for attachment in &message.attachments {
                if wanted.len() < MAX_RESOLVED && !wanted.iter().any(|w| w.id() == attachment.id())
                {
                    wanted.push(attachment);
                }
            }
        }
    }
    if wanted.is_empty() {
        return AttachmentInputs::new();
    }
    let store = turn.attachments.as_deref();
    let user = &turn.context.user;
    let resolved = join_all(wanted.iter().map(|a| resolve_one(store, user, a, options))).await;
    wanted.iter().map(|a| a.id().to_string()).zip(resolved).collect()
}

async fn resolve_one(
    store: Option<&dyn AttachmentStore>,
    user: &UserId,
    attachment: &Attachment,
    o: &AttachmentOptions,
) -> AttachmentInput {
    let unreadable = |reason: &str| AttachmentInput::Unreadable { reason: reason.to_string() };
    let Some(store) = store else {
        return unreadable("attachments are not enabled on this server");
    };
    let result = match kind(attachment.mime_type()) {
        Kind::Image => url_or_data(store, user, attachment, o.inline)
            .await
            .map(|url| AttachmentInput::Image { url }),
        Kind::Pdf if o.api == ModelApi::ChatCompletions => {
            return unreadable("this model API does not read PDF files")
        }
        Kind::Pdf => url_or_data(store, user, attachment, o.inline)
            .await
            .map(|url| AttachmentInput::File { url }),
        Kind::Text => text(store, user, attachment, o.text_max_bytes).await,
        Kind::Other => {
            let reason = match attachment.mime_type() {
                m if m.starts_with("image/") => {
                    "the model reads PNG, JPEG, GIF and WebP images only".to_string()
                }
                m => format!("{m} files are not sent to the model"),
            };
            return AttachmentInput::Unreadable { reason };
        }
    };
    result.unwrap_or_else(|reason| {
        tracing::warn!(attachment = %attachment.id(), %reason, "an attachment could not be read for the model");
        AttachmentInput::Unreadable { reason }
    })
}

/// An expiring URL, or the bytes as a `data:` URL when `inline` (or when the store has no
/// URLs).
async fn url_or_data(
    store: &dyn AttachmentStore,
    user: &UserId,
    attachment: &Attachment,
    inline: bool,
) -> Result<String, String> {
    if !inline {
        if let Some(url) = store.download_url(user, attachment).await.map_err(|e| e.to_string())? {
            return Ok(url);
        }
    }
    let bytes = store
        .read(user, attachment, MAX_INLINE_BYTES)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("its bytes cannot be read back from storage")?;
    if bytes.truncated() {
        return Err(format!(
            "it is larger than the {MAX_INLINE_BYTES} bytes that can be sent inline"
        ));
    }
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes.data);
    Ok(format!("data:{};base64,{data}", attachment.mime_type()))
}

/// The beginning of a UTF-8 text file.
async fn text(
    store: &dyn AttachmentStore,
    user: &UserId,
    attachment: &Attachment,
    max: u64,
) -> Result<AttachmentInput, String> {
    let bytes = store
        .read(user, attachment, max)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("its bytes cannot be read back from storage")?;
    let text = match std::str::from_utf8(&bytes.data) {
        Ok(text) => text,
        // a character cut by the size limit is dropped, not an error
        Err(e) if bytes.truncated() && e.error_len().is_none() => {
            std::str::from_utf8(&bytes.data[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return Err("it is not UTF-8 text".into()),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).to_string();
    Ok(AttachmentInput::Text { text, total_size: bytes.truncated().then_some(bytes.total_size) })
}
