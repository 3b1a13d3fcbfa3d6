//! A running model stream: SSE parsed with `eventsource-stream` (or Bedrock's event stream),
//! fed to the API's parser, with a first-token deadline and an idle timeout between events.
//! Dropping it closes the connection (that is how a cancelled turn stops the model).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use tokio::time::{timeout, timeout_at, Instant};

use crate::capped::{self, ReadError, MAX_SSE_LINE_BYTES};

use super::{bedrock, chat, responses, ModelError, ModelEvent};

type SseStream = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<ReadError>>> + Send>>;

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

/// Where the events come from.
enum Source {
    Sse { events: SseStream, parser: Parser },
    Bedrock { events: Box<bedrock::Events>, parser: bedrock::Parser },
}

impl Source {
    /// Reads one event and parses it into `out`; `Ok(true)` once the response is complete.
    async fn step(&mut self, out: &mut VecDeque<ModelEvent>) -> Result<bool, ModelError> {
        match self {
            Source::Sse { events, parser } => match events.next().await {
                None => parser.end(out).map(|()| true),
                Some(Err(err)) => Err(ModelError::Cut(cut_reason(&err))),
                Some(Ok(event)) => parser.event(&event, out),
            },
            Source::Bedrock { events, parser } => match events.recv().await {
                Ok(None) => parser.end(out).map(|()| true),
                Ok(Some(event)) => parser.event(event, out),
                Err(err) => Err(match bedrock::sdk_error(&err) {
                    // a failure reported inside the stream
                    ModelError::Status { status, message } if status != 500 => {
                        ModelError::Status { status, message }
                    }
                    ModelError::Status { message, .. } => ModelError::Provider(message),
                    ModelError::Transport { message, .. } => ModelError::Cut(message),
                    other => other,
                }),
            },
        }
    }
}

/// The normalized events of one streamed model call.
pub struct ModelStream {
    source: Source,
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
        let chunks = capped::lines(response.bytes_stream(), MAX_SSE_LINE_BYTES);
        let events = Box::pin(chunks.eventsource());
        Self::from_source(
            Source::Sse { events, parser },
            first_deadline,
            first_timeout,
            idle_timeout,
        )
    }

    /// A Bedrock `ConverseStream` call's events.
    pub(crate) fn bedrock(
        events: bedrock::Events,
        first_deadline: Instant,
        first_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        let source =
            Source::Bedrock { events: Box::new(events), parser: bedrock::Parser::default() };
        Self::from_source(source, first_deadline, first_timeout, idle_timeout)
    }

    fn from_source(
        source: Source,
        first_deadline: Instant,
        first_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            source,
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
            let step = self.source.step(&mut self.queue);
            let step = match self.first_deadline {
                Some(deadline) => {
                    timeout_at(deadline, step).await.unwrap_or(Err(ModelError::Timeout {
                        waiting_for: "the first token",
                        after: self.first_timeout,
                    }))
                }
                None => {
                    timeout(self.idle_timeout, step).await.unwrap_or(Err(ModelError::Timeout {
                        waiting_for: "more of its reply",
                        after: self.idle_timeout,
                    }))
                }
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

fn cut_reason(err: &EventStreamError<ReadError>) -> String {
    match err {
        EventStreamError::Transport(ReadError::Transport(e)) => {
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text = format!("{text}: {source}");
            }
            text
        }
        other => other.to_string(),
    }
}
