//! Starting a turn's stream from a handler: the [`Turn`], the recent history, and the
//! pipeline run with its time limits, cancel flag and usage metering. Every streaming
//! handler (messages, tool outputs, structured inputs, retries, actions) starts through here.

use std::sync::Arc;
use std::time::Instant;

use chatkit_protocol::{Order, ThreadItem, ThreadMetadata, ThreadStreamEvent, UserMessageItem};
use chatkit_store::{PageRequest, ThreadWithItems};
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::pipeline::{self, EventStream, StreamJob};
use crate::{ChatKitError, ChatKitServer, EventSink, RequestContext, Responder, StreamError, Turn};

/// Starts the responder's `respond` on a validated turn.
pub(crate) fn respond(
    s: &ChatKitServer,
    turn: Turn,
    prelude: Vec<ThreadStreamEvent>,
    opening: Vec<ThreadStreamEvent>,
) -> EventStream {
    respond_after(s, turn, prelude, opening, None)
}

/// [`respond`], with the responder started at once while the handler still writes what the
/// prelude reports: nothing is sent or saved until `persisted` resolves, and dropping it
/// (the write failed) stops the responder.
pub(crate) fn respond_after(
    s: &ChatKitServer,
    turn: Turn,
    prelude: Vec<ThreadStreamEvent>,
    opening: Vec<ThreadStreamEvent>,
    persisted: Option<oneshot::Receiver<()>>,
) -> EventStream {
    start(s, turn, prelude, opening, persisted, |responder, turn, sink| {
        Box::pin(async move { responder.respond(turn, sink).await })
    })
}

/// Starts the pipeline for `turn`, running `work` with the responder; its events are sent
/// after the prelude and `stream_options`.
pub(crate) fn stream(
    s: &ChatKitServer,
    turn: Turn,
    prelude: Vec<ThreadStreamEvent>,
    opening: Vec<ThreadStreamEvent>,
    work: impl FnOnce(Arc<dyn Responder>, Turn, EventSink) -> BoxFuture<'static, Result<(), StreamError>>
        + Send
        + 'static,
) -> EventStream {
    start(s, turn, prelude, opening, None, work)
}

fn start(
    s: &ChatKitServer,
    turn: Turn,
    prelude: Vec<ThreadStreamEvent>,
    opening: Vec<ThreadStreamEvent>,
    persisted: Option<oneshot::Receiver<()>>,
    work: impl FnOnce(Arc<dyn Responder>, Turn, EventSink) -> BoxFuture<'static, Result<(), StreamError>>
        + Send
        + 'static,
) -> EventStream {
    let responder = s.responder.clone();
    // with usage limits, the tokens the turn used are added to the user's day when it ends
    let usage = s.usage.clone().map(|usage| (usage, turn.context.clone()));
    let context = turn.context.clone();
    // the turn stops at the earlier of its budget and a margin before the invocation dies
    let budget = s.config.turn_budget.map(|b| Instant::now() + b);
    let deadline = context.deadline.map(|d| d.checked_sub(s.config.deadline_margin).unwrap_or(d));
    let stop_at = budget.into_iter().chain(deadline).min();
    let running = s.running.register(
        s.store.clone(),
        &context.user,
        &context.request_id,
        s.config.cancel_poll,
    );
    let job = StreamJob {
        store: s.store.clone(),
        responder: s.responder.clone(),
        context,
        thread: turn.thread.clone(),
        prelude,
        opening,
        stop_at,
        running,
        persisted,
        work: Box::new(move |sink| {
            let work = work(responder, turn, sink);
            match usage {
                Some((usage, context)) => usage.metered(&context, work),
                None => work,
            }
        }),
    };
    pipeline::start(job)
}

/// The [`Turn`] a handler hands to the responder.
pub(crate) fn turn(
    s: &ChatKitServer,
    ctx: RequestContext,
    thread: ThreadMetadata,
    input: Option<UserMessageItem>,
    history: Vec<ThreadItem>,
) -> Turn {
    Turn {
        thread,
        input,
        history,
        context: ctx,
        store: s.store.clone(),
        attachments: s.attachments.clone(),
    }
}

/// The thread and its newest items (one store request); history comes back oldest first.
pub(crate) async fn load_recent(
    s: &ChatKitServer,
    ctx: &RequestContext,
    thread_id: &str,
) -> Result<ThreadWithItems, ChatKitError> {
    let page = PageRequest::new(s.config.history_items, Order::Desc);
    Ok(s.store.load_thread_items(&ctx.user, thread_id, &page).await?)
}

pub(crate) fn oldest_first(mut items: Vec<ThreadItem>) -> Vec<ThreadItem> {
    items.reverse();
    items
}
