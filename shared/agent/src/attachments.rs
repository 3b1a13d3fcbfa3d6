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
//! What each counts for in the token estimate: [`estimate`].
//!
//! Cost per turn: presigning is local (no request); each inlined image or PDF and each text
//! file is one `GetObject`, run concurrently; inline, one after the other (newest first)
//! within [`MAX_INLINE_TURN_BYTES`], so a turn never holds more than that in memory. At most
//! [`MAX_RESOLVED`] attachments (the newest) are resolved per turn; older ones are named.

use std::collections::HashMap;

use base64::Engine;
use chatkit_protocol::{Attachment, ThreadItem};
use chatkit_server::{AttachmentStore, Turn};
use chatkit_store::UserId;
use futures::future::join_all;

use crate::client::ModelApi;

pub mod estimate;

/// Most attachments resolved per turn (newest first).
pub const MAX_RESOLVED: usize = 20;
/// Largest image or PDF sent inline (base64 in the request body).
pub const MAX_INLINE_BYTES: u64 = 20 * 1024 * 1024;
/// Most bytes of images and PDFs one turn sends inline, all together (base64 adds a third,
/// and the request body holds them again: about 3× this in a 256 MB function).
pub const MAX_INLINE_TURN_BYTES: u64 = 24 * 1024 * 1024;

/// What the model gets for one attachment.
#[derive(Debug, Clone, PartialEq)]
pub enum AttachmentInput {
    /// An expiring `https` URL or a `data:` URL.
    Image { url: String },
    /// A PDF the provider reads: an expiring `https` URL or a `data:` URL, and its estimated
    /// tokens ([`estimate::pdf_tokens`]).
    File { url: String, tokens: usize },
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
    let resolved = if options.inline {
        resolve_inline(store, user, &wanted, options).await
    } else {
        let all = wanted.iter().map(|a| resolve_one(store, user, a, options, MAX_INLINE_BYTES));
        join_all(all).await.into_iter().map(|(input, _)| input).collect()
    };
    wanted.iter().map(|a| a.id().to_string()).zip(resolved).collect()
}

/// One after the other, newest first, within [`MAX_INLINE_TURN_BYTES`].
async fn resolve_inline(
    store: Option<&dyn AttachmentStore>,
    user: &UserId,
    wanted: &[&Attachment],
    options: &AttachmentOptions,
) -> Vec<AttachmentInput> {
    let mut budget = MAX_INLINE_TURN_BYTES;
    let mut resolved = Vec::with_capacity(wanted.len());
    for attachment in wanted {
        let (input, used) = resolve_one(store, user, attachment, options, budget).await;
        budget -= used;
        resolved.push(input);
    }
    resolved
}

/// What the model gets for `attachment`, and the bytes it inlined of `budget` (what is left
/// of the turn's [`MAX_INLINE_TURN_BYTES`]).
async fn resolve_one(
    store: Option<&dyn AttachmentStore>,
    user: &UserId,
    attachment: &Attachment,
    o: &AttachmentOptions,
    budget: u64,
) -> (AttachmentInput, u64) {
    let unreadable = |reason: &str| AttachmentInput::Unreadable { reason: reason.to_string() };
    let Some(store) = store else {
        return (unreadable("attachments are not enabled on this server"), 0);
    };
    let mut used = 0;
    let result = match kind(attachment.mime_type()) {
        Kind::Image => url_or_data(store, user, attachment, o.inline, budget, &mut used)
            .await
            .map(|(url, _)| AttachmentInput::Image { url }),
        Kind::Pdf if o.api == ModelApi::ChatCompletions => {
            return (unreadable("this model API does not read PDF files"), 0)
        }
        Kind::Pdf => url_or_data(store, user, attachment, o.inline, budget, &mut used).await.map(
            |(url, pages)| {
                let tokens = estimate::pdf_tokens(pages, estimate::recorded_size(attachment));
                AttachmentInput::File { url, tokens }
            },
        ),
        Kind::Text => text(store, user, attachment, o.text_max_bytes).await,
        Kind::Other => {
            let reason = match attachment.mime_type() {
                m if m.starts_with("image/") => {
                    "the model reads PNG, JPEG, GIF and WebP images only".to_string()
                }
                m => format!("{m} files are not sent to the model"),
            };
            return (AttachmentInput::Unreadable { reason }, 0);
        }
    };
    let input = result.unwrap_or_else(|reason| {
        tracing::warn!(attachment = %chatkit_protocol::ids::echo(attachment.id()), %reason, "an attachment could not be read for the model");
        AttachmentInput::Unreadable { reason }
    });
    (input, used)
}

/// An expiring URL, or the bytes as a `data:` URL when `inline` (or when the store has no
/// URLs), within what is left of the turn's inline `budget`; adds the bytes inlined to `used`.
/// With the bytes read, a PDF's pages counted in them.
async fn url_or_data(
    store: &dyn AttachmentStore,
    user: &UserId,
    attachment: &Attachment,
    inline: bool,
    budget: u64,
    used: &mut u64,
) -> Result<(String, Option<u64>), String> {
    if !inline {
        if let Some(url) = store.download_url(user, attachment).await.map_err(|e| e.to_string())? {
            return Ok((url, None));
        }
    }
    let cap = MAX_INLINE_BYTES.min(budget);
    if cap == 0 {
        return Err(format!(
            "the newer attachments already use the {MAX_INLINE_TURN_BYTES} bytes one message can send inline"
        ));
    }
    let bytes = store
        .read(user, attachment, cap)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("its bytes cannot be read back from storage")?;
    if bytes.truncated() {
        return Err(if cap < MAX_INLINE_BYTES {
            format!("with the newer attachments it is over the {MAX_INLINE_TURN_BYTES} bytes one message can send inline")
        } else {
            format!("it is larger than the {MAX_INLINE_BYTES} bytes that can be sent inline")
        });
    }
    *used += bytes.data.len() as u64;
    let pages = match attachment.mime_type() {
        "application/pdf" => estimate::count_pdf_pages(&bytes.data),
        _ => None,
    };
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes.data);
    Ok((format!("data:{};base64,{data}", attachment.mime_type()), pages))
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

#[cfg(test)]
mod tests {
    use chatkit_protocol::CreateAttachmentParams;
    use chatkit_store::{AttachmentBytes, StoreResult};

    use super::*;

    /// Objects of the sizes their names say (`9437184.png`), read up to the cap asked for.
    struct Sized;

    #[async_trait::async_trait]
    impl AttachmentStore for Sized {
        async fn create_attachment(
            &self,
            _: &UserId,
            _: String,
            _: &CreateAttachmentParams,
        ) -> StoreResult<Attachment> {
            unreachable!()
        }

        async fn delete_attachment(&self, _: &UserId, _: &Attachment) -> StoreResult<()> {
            Ok(())
        }

        async fn read(
            &self,
            _: &UserId,
            attachment: &Attachment,
            max_bytes: u64,
        ) -> StoreResult<Option<AttachmentBytes>> {
            let size: u64 = attachment.name().trim_end_matches(".png").parse().unwrap();
            Ok(Some(AttachmentBytes {
                data: vec![0; size.min(max_bytes) as usize],
                total_size: size,
            }))
        }
    }

    fn image(size: u64) -> Attachment {
        serde_json::from_value(serde_json::json!({"type": "image", "id": format!("atc_{size}"),
            "name": format!("{size}.png"), "mime_type": "image/png", "preview_url": "s3://b/k"}))
        .unwrap()
    }

    #[tokio::test]
    async fn inline_attachments_stay_within_the_turn_budget() {
        const MIB: u64 = 1024 * 1024;
        let o = AttachmentOptions { api: ModelApi::Responses, inline: true, text_max_bytes: 1024 };
        let wanted = [image(10 * MIB), image(10 * MIB), image(10 * MIB), image(MIB)];
        let wanted: Vec<&Attachment> = wanted.iter().collect();
        let out = resolve_inline(Some(&Sized), &UserId::new("ada"), &wanted, &o).await;
        let sent = |i: usize| matches!(&out[i], AttachmentInput::Image { url } if url.starts_with("data:image/png;base64,"));
        assert!(
            sent(0) && sent(1),
            "the newest fit: {:?}",
            &out[..2].iter().map(|i| format!("{i:?}").len()).collect::<Vec<_>>()
        );
        assert!(
            matches!(&out[2], AttachmentInput::Unreadable { reason } if reason.contains("one message can send inline")),
            "the third is over the budget"
        );
        assert!(sent(3), "a smaller one still fits in what is left");
        let inlined: usize = out
            .iter()
            .map(|i| match i {
                AttachmentInput::Image { url } => url.len(),
                _ => 0,
            })
            .sum();
        assert!((inlined as u64) < MAX_INLINE_TURN_BYTES * 4 / 3 + 1024, "{inlined}");
    }
}
