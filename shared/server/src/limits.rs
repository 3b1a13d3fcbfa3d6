//! Request limits, checked on the parsed request before anything is read or written, each
//! answered with a clear 4xx. Together with the body limit and the store's own checks they
//! keep every input inside what the store can hold: no input of any size or shape reaches
//! DynamoDB's limits (which would be a 500).

use chatkit_protocol::{Operation, UserMessageInput};
use chatkit_settings::catalog::{MAX_MESSAGE_BYTES, MAX_TOOL_OUTPUT_BYTES};
use chatkit_settings::{Lookup, SettingError};
use chatkit_store::ids::sort_key;
use chatkit_store::MAX_FEEDBACK_ITEMS;
use serde::Serialize;

use crate::{ChatKitError, RequestContext};

/// The limits (see `docs/settings.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A user message's content, quoted text and inference options as JSON (also a
    /// structured input's answers). Default 100 000 bytes (413 above).
    pub max_message_bytes: usize,
    /// A client tool's output as JSON. Default 1 000 000 bytes (413 above; 413 too when it
    /// cannot be stored even compressed).
    pub max_tool_output_bytes: usize,
    /// A thread title. 1024 bytes (413 above).
    pub max_title_bytes: usize,
    /// An attachment's name (1024 bytes) and MIME type (255 bytes) (413 above).
    pub max_attachment_name_bytes: usize,
    pub max_mime_type_bytes: usize,
    /// Attachments on one message (400 above).
    pub max_attachments: usize,
    /// The authenticated user id (a token's `sub`), 512 bytes (400 above): every key is
    /// derived from it, and DynamoDB keys are bounded.
    pub max_user_id_bytes: usize,
}

impl Default for Limits {
    /// The declared defaults of `CHATKIT_MAX_MESSAGE_BYTES` and
    /// `CHATKIT_MAX_TOOL_OUTPUT_BYTES`, and the fixed limits.
    fn default() -> Self {
        Self::from_lookup(&chatkit_settings::defaults).expect("the declared defaults parse")
    }
}

impl Limits {
    /// `CHATKIT_MAX_MESSAGE_BYTES` and `CHATKIT_MAX_TOOL_OUTPUT_BYTES`, and the fixed limits.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        Ok(Self {
            max_message_bytes: MAX_MESSAGE_BYTES.number(get)?,
            max_tool_output_bytes: MAX_TOOL_OUTPUT_BYTES.number(get)?,
            max_title_bytes: 1024,
            max_attachment_name_bytes: 1024,
            max_mime_type_bytes: 255,
            max_attachments: 20,
            max_user_id_bytes: 512,
        })
    }

    /// Checks the caller and the request. Nothing has been read or written yet.
    pub fn check(&self, ctx: &RequestContext, op: &Operation) -> Result<(), ChatKitError> {
        let user = &ctx.user;
        if let Some(key) = &ctx.idempotency_key {
            if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ChatKitError::bad_request(
                    "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
                ));
            }
        }
        if user.as_str().len() > self.max_user_id_bytes {
            return Err(ChatKitError::bad_request(format!(
                "the authenticated user id is {} bytes; this server keys data by user ids of at most {} bytes",
                user.as_str().len(),
                self.max_user_id_bytes
            )));
        }
        match op {
            Operation::CreateThread(p) => self.message(&p.input),
            Operation::AddUserMessage(p) => self.message(&p.input),
            Operation::AddClientToolOutput(p) => {
                too_large("the tool output", "params.result", json_len(&p.result), self.max_tool_output_bytes)
            }
            Operation::AddStructuredInput(p) => {
                too_large("the structured input answers", "params.input", json_len(&p.input), self.max_message_bytes)
            }
            Operation::UpdateThread(p) => too_large("the title", "params.title", p.title.len(), self.max_title_bytes),
            Operation::Feedback(p) => feedback(&p.item_ids),
            Operation::CancelTurn(p) if !chatkit_store::is_turn_id(&p.turn_id) => Err(ChatKitError::BadRequest {
                message: "`turn_id` must be the x-chatkit-turn-id of a streamed response (letters, digits, - and _, at most 128)".into(),
                field: Some("params.turn_id".into()),
            }),
            Operation::CreateAttachment(p) => {
                too_large("the attachment name", "params.name", p.name.len(), self.max_attachment_name_bytes)?;
                too_large("the MIME type", "params.mime_type", p.mime_type.len(), self.max_mime_type_bytes)
            }
            _ => Ok(()),
        }
    }

    fn message(&self, input: &UserMessageInput) -> Result<(), ChatKitError> {
        if input.attachments.len() > self.max_attachments {
            return Err(ChatKitError::BadRequest {
                message: format!(
                    "a message has {} attachments; the limit is {}",
                    input.attachments.len(),
                    self.max_attachments
                ),
                field: Some("params.input.attachments".into()),
            });
        }
        let size = json_len(&input.content)
            + json_len(&input.quoted_text)
            + json_len(&input.inference_options);
        too_large("the message", "params.input.content", size, self.max_message_bytes)
    }
}

fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

fn too_large(what: &str, field: &str, size: usize, limit: usize) -> Result<(), ChatKitError> {
    if size <= limit {
        return Ok(());
    }
    Err(ChatKitError::TooLarge {
        message: format!("{what} is {size} bytes; the limit is {limit} bytes"),
        field: Some(field.into()),
    })
}

/// 1 to [`MAX_FEEDBACK_ITEMS`] well-formed item ids.
fn feedback(ids: &[String]) -> Result<(), ChatKitError> {
    let field = Some("params.item_ids".to_string());
    if ids.is_empty() {
        return Err(ChatKitError::BadRequest { message: "`item_ids` is empty".into(), field });
    }
    if ids.len() > MAX_FEEDBACK_ITEMS {
        let message =
            format!("feedback names {} items; at most {MAX_FEEDBACK_ITEMS} per request", ids.len());
        return Err(ChatKitError::BadRequest { message, field });
    }
    if let Some((i, id)) = ids.iter().enumerate().find(|(_, id)| sort_key(id).is_none()) {
        let shown: String = id.chars().take(64).collect();
        return Err(ChatKitError::BadRequest {
            message: format!("`{shown}` is not an item id"),
            field: Some(format!("params.item_ids[{i}]")),
        });
    }
    Ok(())
}
