//! [`OfflineResponder`]: answers when no model is configured, so a fresh deployment works
//! end to end and says how to connect a model.

use async_trait::async_trait;
use chatkit_server::{EventSink, Responder, StreamError, Turn};

use crate::reply::Reply;

/// Streams a reply that echoes the user and explains how to configure a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineResponder;

/// The reply to `text`.
pub fn offline_reply(text: &str) -> String {
    let echo = if text.trim().is_empty() {
        "(no new message)".to_string()
    } else {
        text.trim().to_string()
    };
    format!(
        "I'm the **offline responder**: no model is configured on this server, so I can only echo you.\n\n\
         You said: {echo}\n\n\
         To connect a model, set `OPENAI_API_KEY` (and optionally `CHATKIT_MODEL`), or set `OPENAI_BASE_URL` to a \
         local OpenAI-compatible server such as Ollama (`http://localhost:11434/v1`, with \
         `CHATKIT_MODEL_API=chat_completions`)."
    )
}

#[async_trait]
impl Responder for OfflineResponder {
    async fn respond(&self, turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let text = offline_reply(
            &turn
                .input
                .as_ref()
                .map(chatkit_protocol::UserMessageItem::plain_text)
                .unwrap_or_default(),
        );
        let mut reply = Reply::new(&sink);
        for chunk in text.split_inclusive("\n\n") {
            reply.delta(chunk).await?;
        }
        reply.finish().await?;
        Ok(())
    }
}
