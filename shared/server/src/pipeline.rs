//! The streaming pipeline shared by every respond/action stream (docs/protocol.md §4.2): sends the
//! already-persisted prelude, then `stream_options`, then the responder's events, persisting
//! each `done` / `replaced` / `removed` item before it is sent, hiding hidden items, turning
//! thread changes into `thread.updated`, and ending with an `error` event on failure.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatkit_protocol::{Page, SdkHiddenContextItem, ThreadItem, ThreadMetadata, ThreadStreamEvent};
use chatkit_store::meter;
use chatkit_store::{ids, Store, StoreError};
use futures::future::BoxFuture;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};

use crate::cancel::TurnGuard;
use crate::context::RequestContext;
use crate::error::StreamError;
use crate::pending::PendingItems;
use crate::responder::Responder;
use crate::sink::{EventSink, SinkMessage};

/// The events of a streamed response, in order. Dropping it cancels the turn.
pub type EventStream = Pin<Box<dyn Stream<Item = ThreadStreamEvent> + Send>>;

/// The work a stream runs once `stream_options` was sent.
pub(crate) type StreamWork =
    Box<dyn FnOnce(EventSink) -> BoxFuture<'static, Result<(), StreamError>> + Send>;

/// One streamed response, fully validated and with its prelude persisted.
pub(crate) struct StreamJob {
    pub store: Arc<dyn Store>,
    pub responder: Arc<dyn Responder>,
    pub context: RequestContext,
    pub thread: ThreadMetadata,
    /// Sent before `stream_options` (`thread.created`, the user message's `done`).
    pub prelude: Vec<ThreadStreamEvent>,
    /// Sent right after `stream_options` (the structured input's `replaced`).
    pub opening: Vec<ThreadStreamEvent>,
    /// When the turn must stop (its budget, or a margin before the invocation's deadline).
    pub stop_at: Option<Instant>,
    /// The turn's registration: woken by `turns.cancel`.
    pub running: TurnGuard,
    pub work: StreamWork,
    /// Writes the handler still waits for (a new thread and its first message): the work
    /// starts at once and overlaps them, but nothing is sent or saved until this resolves;
    /// if it is dropped instead (the writes failed), the work is stopped and nothing is sent.
    pub persisted: Option<oneshot::Receiver<()>>,
}

/// The hidden note stored when the user stops a stream, as the reference SDK writes it.
pub const CANCELLED_NOTE: &str =
    "The user cancelled the stream. Stop responding to the prior request.";

/// The hidden note stored when a turn ran out of time: the model knows its last reply is cut.
pub const TIMED_OUT_NOTE: &str =
    "The previous reply was cut off by the server's time limit and is incomplete. If the user asks to continue, continue it.";

/// Buffer between the pipeline and the HTTP body: small, so a slow client slows the model
/// stream instead of the server buffering a whole reply.
const OUTPUT_BUFFER: usize = 16;
const SINK_BUFFER: usize = 8;
/// A turn without a time limit.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Starts the pipeline on its own task and returns the event stream.
pub(crate) fn start(job: StreamJob) -> EventStream {
    let (out, rx) = mpsc::channel(OUTPUT_BUFFER);
    meter::spawn(run(job, out));
    Box::pin(ReceiverStream::new(rx))
}

enum Outcome {
    Finished,
    Failed(StreamError),
    /// The client went away (a disconnect the transport saw).
    Cancelled,
    /// `turns.cancel` asked the turn to stop.
    CancelRequested,
    /// The turn's time is up.
    TimedOut,
}

async fn run(job: StreamJob, out: mpsc::Sender<ThreadStreamEvent>) {
    let StreamJob {
        store,
        responder,
        context,
        thread,
        prelude,
        opening,
        stop_at,
        running,
        work,
        persisted,
    } = job;
    let options = ThreadStreamEvent::StreamOptions {
        stream_options: responder.stream_options(&thread, &context),
    };
    // the work (the model call) starts first; its events wait in the sink until the prelude
    // is persisted and sent
    let (sink_tx, mut sink_rx) = mpsc::channel(SINK_BUFFER);
    let task = meter::spawn((work)(EventSink::new(sink_tx, thread.id.clone())));
    if let Some(persisted) = persisted {
        if persisted.await.is_err() {
            task.abort(); // the writes failed: the handler answers with the error
            return;
        }
    }
    for event in prelude.into_iter().chain([options]).chain(opening) {
        if out.send(event).await.is_err() {
            task.abort(); // client gone before the turn started: nothing pending to save
            return;
        }
    }
    let mut state = State {
        store: store.as_ref(),
        context: &context,
        last_thread: thread.clone(),
        pending: PendingItems::default(),
    };

    let time_up =
        sleep_until(stop_at.map_or_else(|| tokio::time::Instant::now() + FOREVER, Into::into));
    tokio::pin!(time_up);
    let outcome = loop {
        let message = tokio::select! {
            biased;
            _ = out.closed() => break Outcome::Cancelled,
            _ = running.cancelled.notified() => break Outcome::CancelRequested,
            _ = &mut time_up => break Outcome::TimedOut,
            message = sink_rx.recv() => message,
        };
        let Some(message) = message else { break Outcome::Finished };
        match state.handle(message).await {
            Ok(Some(event)) => {
                if out.send(event).await.is_err() {
                    break Outcome::Cancelled;
                }
            }
            Ok(None) => {}
            Err(err) => break Outcome::Failed(err),
        }
    };

    let failure = match outcome {
        Outcome::Finished => match task.await {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(err),
            Err(join) => {
                warn!(request_id = %context.request_id, error = %join, "responder task failed");
                Some(StreamError::transient("the responder failed"))
            }
        },
        Outcome::Failed(err) => {
            task.abort();
            Some(err)
        }
        Outcome::Cancelled | Outcome::CancelRequested => {
            task.abort();
            let items = responder.on_cancelled(&state.last_thread, state.pending.into_items());
            let how = if matches!(outcome, Outcome::Cancelled) {
                "the client went away"
            } else {
                "turns.cancel"
            };
            info!(request_id = %context.request_id, saved = items.len(), how, "stream cancelled");
            for item in items {
                if let Err(err) = store.save_item(&context.user, &thread.id, &item).await {
                    warn!(request_id = %context.request_id, error = %err, "could not save a cancelled item");
                }
            }
            return;
        }
        Outcome::TimedOut => {
            // stops the responder: the model stream, a tool call or a retry wait, whichever runs
            task.abort();
            let items = timed_out_items(&state.last_thread, state.pending.into_items());
            warn!(request_id = %context.request_id, saved = items.len(), "turn stopped at its deadline");
            let saving = async {
                for item in items {
                    match store.save_item(&context.user, &thread.id, &item).await {
                        Ok(()) if !item.is_hidden() => {
                            let _ = out.send(ThreadStreamEvent::ItemDone { item }).await;
                        }
                        Ok(()) => {}
                        Err(err) => {
                            warn!(request_id = %context.request_id, error = %err, "could not save a timed-out item");
                        }
                    }
                }
            };
            // the saves end before the invocation does, however slow the store is
            let hard_deadline = context.deadline.map(|d| {
                tokio::time::Instant::from_std(
                    d.checked_sub(Duration::from_millis(200)).unwrap_or(d),
                )
            });
            match hard_deadline {
                Some(hard) => {
                    if tokio::time::timeout_at(hard, saving).await.is_err() {
                        warn!(request_id = %context.request_id, "the invocation's deadline came before every timed-out item was saved");
                    }
                }
                None => saving.await,
            }
            Some(StreamError::transient("The reply took too long and was stopped; what it said so far is kept. Retry to ask again."))
        }
    };
    if let Some(err) = failure {
        warn!(request_id = %context.request_id, error = %err, "stream ended with an error");
        let _ = out.send(err.to_event(&context.request_id)).await;
    }
}

struct State<'a> {
    store: &'a dyn Store,
    context: &'a RequestContext,
    last_thread: ThreadMetadata,
    pending: PendingItems,
}

impl State<'_> {
    /// Persists what must be persisted, then returns the event to send (if any).
    async fn handle(
        &mut self,
        message: SinkMessage,
    ) -> Result<Option<ThreadStreamEvent>, StreamError> {
        let user = &self.context.user;
        let thread_id = self.last_thread.id.clone();
        let event = match message {
            SinkMessage::UpdateThread(thread) => {
                if thread == self.last_thread {
                    return Ok(None);
                }
                match self.store.save_thread(user, &thread).await {
                    Ok(()) => {}
                    // deleted meanwhile: the turn has nothing left to answer into
                    Err(err @ StoreError::NotFound { .. }) => return Err(err.into()),
                    // a title or status that could not be saved does not undo the reply the
                    // user has: the client keeps the thread as it was
                    Err(err) => {
                        warn!(request_id = %self.context.request_id, error = %err, "could not save the thread's update; going on without it");
                        return Ok(None);
                    }
                }
                let wire = thread.to_wire(Page::default());
                self.last_thread = thread;
                return Ok(Some(ThreadStreamEvent::ThreadUpdated { thread: wire }));
            }
            SinkMessage::Event(event) => event,
        };
        match &event {
            ThreadStreamEvent::ItemAdded { item } => self.pending.added(item),
            ThreadStreamEvent::ItemUpdated { item_id, update } => {
                self.pending.apply(item_id, update);
            }
            ThreadStreamEvent::ItemDone { item } | ThreadStreamEvent::ItemReplaced { item } => {
                self.store.save_item(user, &thread_id, item).await?;
                self.pending.remove(item.id());
                if item.is_hidden() {
                    return Ok(None);
                }
            }
            ThreadStreamEvent::ItemRemoved { item_id } => {
                self.store.delete_items(user, &thread_id, std::slice::from_ref(item_id)).await?;
                self.pending.remove(item_id);
            }
            _ => {}
        }
        Ok(Some(event))
    }
}

/// What a turn that ran out of time keeps: its assistant messages with text (as they were
/// streamed), and a hidden note so the model knows the last reply is incomplete.
fn timed_out_items(thread: &ThreadMetadata, pending: Vec<ThreadItem>) -> Vec<ThreadItem> {
    let mut keep = with_text(pending);
    keep.push(hidden_note(thread, TIMED_OUT_NOTE));
    keep
}

fn with_text(pending: Vec<ThreadItem>) -> Vec<ThreadItem> {
    pending
        .into_iter()
        .filter(|item| match item {
            ThreadItem::AssistantMessage(msg) => {
                msg.content.iter().any(|c| !c.text.trim().is_empty())
            }
            _ => false,
        })
        .collect()
}

fn hidden_note(thread: &ThreadMetadata, note: &str) -> ThreadItem {
    ThreadItem::SdkHiddenContext(SdkHiddenContextItem {
        id: ids::new_id(ids::prefix::SDK_HIDDEN_CONTEXT),
        thread_id: thread.id.clone(),
        created_at: chatkit_protocol::timestamp::now(),
        content: note.to_string(),
    })
}

/// The reference SDK's cancellation behaviour: keep assistant messages that have text, and
/// add a hidden note so the model does not carry on with the abandoned request.
pub fn default_cancelled_items(
    thread: &ThreadMetadata,
    pending: Vec<ThreadItem>,
) -> Vec<ThreadItem> {
    let mut keep = with_text(pending);
    keep.push(hidden_note(thread, CANCELLED_NOTE));
    keep
}
