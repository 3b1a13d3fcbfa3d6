//! `input.transcribe`: the recording goes as multipart to the OpenAI-compatible
//! `POST {base}/audio/transcriptions`, with the configured model; the answer's `text` comes
//! back. Refusals are 4xx before any call (empty, too large, not an audio type on the
//! allowlist); a provider failure is a 502 whose message never holds the API key.

use std::time::Duration;

use chatkit_protocol::TranscriptionResult;
use chatkit_server::{AudioInput, ChatKitError};
use serde_json::Value;

use crate::client::ModelError;

/// Longest wait for a transcription.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Accepted recordings: media type → the file name the provider detects the format by.
pub const AUDIO_TYPES: &[(&str, &str)] = &[
    ("audio/webm", "audio.webm"),
    ("video/webm", "audio.webm"),
    ("audio/ogg", "audio.ogg"),
    ("audio/mp4", "audio.mp4"),
    ("audio/m4a", "audio.m4a"),
    ("audio/x-m4a", "audio.m4a"),
    ("audio/mpeg", "audio.mp3"),
    ("audio/mp3", "audio.mp3"),
    ("audio/wav", "audio.wav"),
    ("audio/x-wav", "audio.wav"),
    ("audio/wave", "audio.wav"),
];

/// Calls the transcription endpoint over the shared HTTP client, with the key the model
/// client sends (it may change while the process runs).
#[derive(Clone)]
pub struct Transcriber {
    http: reqwest::Client,
    url: String,
    model: String,
    max_bytes: usize,
}

/// What a [`Transcriber`] is configured with (assembled by
/// [`crate::AgentConfig::transcriber_config`]).
#[derive(Debug, Clone)]
pub struct TranscriberConfig {
    /// The API root: recordings go to `{base_url}/audio/transcriptions`.
    pub base_url: String,
    pub model: String,
    /// Largest recording accepted.
    pub max_bytes: usize,
}

impl Transcriber {
    pub fn new(http: reqwest::Client, config: TranscriberConfig) -> Self {
        Self {
            http,
            url: format!("{}/audio/transcriptions", config.base_url),
            model: config.model,
            max_bytes: config.max_bytes,
        }
    }

    /// Transcribes one recording, sending `api_key` (when there is one) as the bearer token.
    pub async fn transcribe(
        &self,
        audio: AudioInput,
        api_key: Option<&str>,
    ) -> Result<TranscriptionResult, ChatKitError> {
        let media_type = audio.media_type().to_ascii_lowercase();
        let Some((_, file_name)) = AUDIO_TYPES.iter().find(|(t, _)| *t == media_type) else {
            let accepted: Vec<&str> = AUDIO_TYPES.iter().map(|(t, _)| *t).collect();
            return Err(ChatKitError::BadRequest {
                message: format!(
                    "`{}` is not a recording type this server transcribes; accepted: {}",
                    audio.mime_type,
                    accepted.join(", ")
                ),
                field: Some("params.mime_type".into()),
            });
        };
        if audio.data.is_empty() {
            return Err(ChatKitError::BadRequest {
                message: "the recording is empty".into(),
                field: Some("params.audio_base64".into()),
            });
        }
        if audio.data.len() > self.max_bytes {
            return Err(ChatKitError::TooLarge {
                message: format!(
                    "the recording is {} bytes; at most {} bytes can be transcribed",
                    audio.data.len(),
                    self.max_bytes
                ),
                field: Some("params.audio_base64".into()),
            });
        }
        let part = reqwest::multipart::Part::bytes(audio.data)
            .file_name(file_name.to_string())
            .mime_str(&media_type)
            .map_err(|e| ChatKitError::bad_request(format!("bad recording type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("model", self.model.clone())
            .text("response_format", "json")
            .part("file", part);
        let mut request = self.http.post(&self.url).multipart(form).timeout(TIMEOUT);
        if let Some(key) = api_key {
            request = request.bearer_auth(key);
        }
        let key = api_key;
        let failed =
            |message: String| ChatKitError::BadGateway(format!("transcription failed: {message}"));
        let response =
            request.send().await.map_err(|e| failed(ModelError::transport(&e, key).to_string()))?;
        let status = response.status();
        let body = match crate::capped::body(response, crate::capped::MAX_ANSWER_BYTES).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(crate::capped::ReadError::Transport(e)) => {
                return Err(failed(ModelError::transport(&e, key).to_string()))
            }
            Err(too_large) => return Err(failed(format!("its answer: {too_large}"))),
        };
        if !status.is_success() {
            return Err(failed(ModelError::status(status.as_u16(), &body, key).to_string()));
        }
        let value: Value = serde_json::from_str(&body)
            .map_err(|_| failed("the transcription service's answer is not JSON".into()))?;
        match value.get("text").and_then(Value::as_str) {
            Some(text) => Ok(TranscriptionResult { text: text.trim().to_string() }),
            None => Err(failed("the transcription service's answer has no `text`".into())),
        }
    }
}
