//! `input.transcribe`: dictation. The recording arrives base64-encoded in the request and
//! goes to the responder's `transcribe` (the model's transcription endpoint by default).

use base64::Engine;
use chatkit_protocol::TranscribeParams;

use crate::{AudioInput, ChatKitError, ChatKitServer, JsonBody, RequestContext};

/// Decodes the audio and hands it to the responder.
pub(crate) async fn transcribe(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: TranscribeParams,
) -> Result<JsonBody, ChatKitError> {
    let data =
        base64::engine::general_purpose::STANDARD.decode(p.audio_base64.trim()).map_err(|e| {
            ChatKitError::BadRequest {
                message: format!("`audio_base64` is not valid base64: {e}"),
                field: Some("params.audio_base64".into()),
            }
        })?;
    let result = s.responder.transcribe(&ctx, AudioInput { data, mime_type: p.mime_type }).await?;
    JsonBody::of(&result)
}
