//! Thread titles: on a thread's first user message a short side call (non-streamed, in its
//! own task) writes a few-word title. It never delays the reply: the title is handed to the
//! sink only once the first delta went out (or when the turn ends). Failures are logged.

use std::time::Duration;

use chatkit_protocol::{ThreadItem, ThreadMetadata};
use chatkit_server::{EventSink, StreamClosed, Turn};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::client::{InputItem, ModelClient, ModelRequest, Role};
use crate::text::bounded;

const TITLE_PROMPT: &str =
    "Write a title of at most six words for a conversation that starts with the user's message \
    below. Answer with the title only: no quotes, no trailing punctuation.";
const TITLE_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_TITLE: usize = 80;

/// A title being generated, if any. Dropping it cancels the call.
pub(crate) struct PendingTitle {
    handle: Option<JoinHandle<Option<String>>>,
    thread: ThreadMetadata,
}

/// True for the thread's first user message, when it has no title yet.
pub(crate) fn wants_title(turn: &Turn) -> bool {
    turn.thread.title.is_none()
        && turn.input.is_some()
        && turn.history.iter().filter(|i| matches!(i, ThreadItem::UserMessage(_))).count() == 1
}

impl PendingTitle {
    pub(crate) fn none(thread: ThreadMetadata) -> Self {
        Self { handle: None, thread }
    }

    /// Starts the side call with the user's text.
    pub(crate) fn start(
        client: ModelClient,
        model: String,
        thread: ThreadMetadata,
        user_text: String,
    ) -> Self {
        let request = ModelRequest {
            model,
            instructions: TITLE_PROMPT.into(),
            input: vec![InputItem::message(Role::User, bounded(&user_text, 2000))],
            tools: vec![],
            tool_choice: None,
        };
        let handle = chatkit_store::meter::spawn(async move {
            match client.complete(&request, TITLE_TIMEOUT).await {
                Ok(text) => clean_title(&text),
                Err(err) => {
                    warn!(error = %err, "could not generate a thread title");
                    None
                }
            }
        });
        Self { handle: Some(handle), thread }
    }

    /// Sends the title if the call has finished; never waits.
    pub(crate) async fn poll(&mut self, sink: &EventSink) -> Result<(), StreamClosed> {
        if self.handle.as_ref().is_some_and(JoinHandle::is_finished) {
            self.finish(sink).await?;
        }
        Ok(())
    }

    /// Waits for the call (bounded by its timeout) and sends the title.
    pub(crate) async fn finish(&mut self, sink: &EventSink) -> Result<(), StreamClosed> {
        let Some(handle) = self.handle.take() else { return Ok(()) };
        if let Ok(Some(title)) = handle.await {
            debug!("thread title generated");
            let mut thread = self.thread.clone();
            thread.title = Some(title);
            sink.update_thread(thread).await?;
        }
        Ok(())
    }
}

impl Drop for PendingTitle {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// One line, without quotes or trailing punctuation, bounded.
fn clean_title(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(['#', ' '])
        .trim_matches(['"', '\'', '*', '`', ' '])
        .trim_end_matches(['.', '!', ':']);
    (!line.is_empty()).then(|| bounded(line, MAX_TITLE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn titles_are_cleaned() {
        assert_eq!(super::clean_title("\n\"Trip to Paris.\"\nextra"), Some("Trip to Paris".into()));
        assert_eq!(super::clean_title("  "), None);
    }
}
