//! A running model stream: SSE parsed with `eventsource-stream`, fed to the API's parser,
//! with a first-token deadline and an idle timeout between events. Dropping it closes the
//! connection (that is how a cancelled turn stops the model).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use tokio::time::{timeout, timeout_at, Instant};

use super::{chat, responses, ModelError, ModelEvent};

type SseStream =
    Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// The per-API event parser.
pub(crate) enum Parser {
    Responses(responses::Parser),
    Chat(chat::Parser),
}

impl Parser {
    /// Handles one SSE event; `Ok(true)` once the response is complete.
    fn event(&mut self, event: &Event, out: &mut VecDeque<ModelEvent>) -> Result<bool, ModelError> {
        match self {
            Parser::Responses(p) => p.event(&event.event, &event.data, out),
            Parser::Chat(p) => p.event(&event.data, out),
        }
    }

    /// The body ended: fine only if the response was complete.
    fn end(&mut self, out: &mut VecDeque<ModelEvent>) -> Result<(), ModelError> {
        match self {
            Parser::Responses(p) => p.end(),
            Parser::Chat(p) => p.end(out),
        }
    }
}

/// The normalized events of one streamed model call.
pub struct ModelStream {
    events: SseStream,
    parser: Parser,
    queue: VecDeque<ModelEvent>,
    /// Set until the first output event arrives.
    first_deadline: Option<Instant>,
    first_timeout: Duration,
    idle_timeout: Duration,
    finished: bool,
}

impl ModelStream {
    pub(crate) fn new(
        response: reqwest::Response,
        parser: Parser,
        first_deadline: Instant,
        first_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            events: Box::pin(response.bytes_stream().eventsource()),
            parser,
            queue: VecDeque::new(),
            first_deadline: Some(first_deadline),
            first_timeout,
            idle_timeout,
            finished: false,
        }
    }

    /// The next event; `None` after [`ModelEvent::Completed`] or an error.
    pub async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if self.finished {
                return None;
            }
            let next = match self.first_deadline {
                Some(deadline) => timeout_at(deadline, self.events.next()).await.map_err(|_| {
                    ModelError::Timeout {
                        waiting_for: "the first token",
                        after: self.first_timeout,
                    }
                }),
                None => timeout(self.idle_timeout, self.events.next()).await.map_err(|_| {
                    ModelError::Timeout {
                        waiting_for: "more of its reply",
                        after: self.idle_timeout,
                    }
                }),
            };
            let step = match next {
                Err(timeout) => Err(timeout),
                Ok(None) => self.parser.end(&mut self.queue).map(|()| true),
                Ok(Some(Err(err))) => Err(ModelError::Cut(cut_reason(&err))),
                Ok(Some(Ok(event))) => self.parser.event(&event, &mut self.queue),
            };
            match step {
                Ok(done) => self.finished = done,
                Err(err) => {
                    self.finished = true;
                    self.queue.clear();
                    return Some(Err(err.redacted()));
                }
            }
            if !self.queue.is_empty() {
                self.first_deadline = None;
            }
        }
    }
}

fn cut_reason(err: &EventStreamError<reqwest::Error>) -> String {
    match err {
        EventStreamError::Transport(e) => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text = format!("{text}: {source}");
            }
            text
        }
        other => other.to_string(),
    }
}
