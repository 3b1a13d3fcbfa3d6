//! `attachments.create`, `attachments.delete` and `input.transcribe`.

use base64::Engine;
use chatkit_protocol::{CreateAttachmentParams, DeleteAttachmentParams, TranscribeParams};
use chatkit_store::ids;
use serde_json::Value;

use super::{empty, to_json};
use crate::{AttachmentStore, AudioInput, ChatKitError, ChatKitServer, RequestContext};

fn attachment_store(s: &ChatKitServer) -> Result<&dyn AttachmentStore, ChatKitError> {
    s.attachments
        .as_deref()
        .ok_or_else(|| ChatKitError::NotImplemented("attachments are not enabled on this server".into()))
}

/// Mints an attachment with its upload descriptor and stores its metadata.
pub(crate) async fn create(s: &ChatKitServer, ctx: RequestContext, p: CreateAttachmentParams) -> Result<Value, ChatKitError> {
    let bytes = attachment_store(s)?;
    let attachment = bytes.create_attachment(&ctx.user, ids::new_id(ids::prefix::ATTACHMENT), &p).await?;
    s.store.save_attachment(&ctx.user, &attachment).await?;
    to_json(&attachment)
}

/// Deletes the bytes, then the metadata. 404 for an attachment the caller does not have.
pub(crate) async fn delete(s: &ChatKitServer, ctx: RequestContext, p: DeleteAttachmentParams) -> Result<Value, ChatKitError> {
    let bytes = attachment_store(s)?;
    let attachment = s.store.load_attachment(&ctx.user, &p.attachment_id).await?;
    bytes.delete_attachment(&ctx.user, &attachment).await?;
    s.store.delete_attachment(&ctx.user, &p.attachment_id).await?;
    Ok(empty())
}

/// Decodes the audio and hands it to the responder.
pub(crate) async fn transcribe(s: &ChatKitServer, ctx: RequestContext, p: TranscribeParams) -> Result<Value, ChatKitError> {
    let data = base64::engine::general_purpose::STANDARD.decode(p.audio_base64.trim()).map_err(|e| {
        ChatKitError::BadRequest { message: format!("`audio_base64` is not valid base64: {e}"), field: Some("params.audio_base64".into()) }
    })?;
    let result = s.responder.transcribe(&ctx, AudioInput { data, mime_type: p.mime_type }).await?;
    to_json(&result)
}
