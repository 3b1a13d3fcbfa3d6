//! The streamed turn operations: `threads.create`, `threads.add_user_message`,
//! `threads.add_client_tool_output`, `threads.add_structured_input`,
//! `threads.retry_after_item`. Each validates and persists what comes before the stream
//! (docs/protocol.md §4.1), then hands the turn to the responder through the pipeline.

use std::time::Duration;

use chatkit_protocol::{
    timestamp, AddClientToolOutputParams, AddStructuredInputParams, AddUserMessageParams,
    CancelTurnParams, CreateThreadParams, Order, Page, StructuredAnswer, StructuredInput,
    StructuredInputItem, StructuredInputStatus, StructuredInputSubmission, ThreadItem,
    ThreadItemParams, ThreadMetadata, ThreadStreamEvent, ToolCallStatus, UserMessageInput,
    UserMessageItem,
};
use chatkit_store::{ids, IdempotencyKey, PageRequest};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tracing::warn;

use super::attachments;
use super::pipeline::{load_recent, oldest_first, respond, respond_after, turn};
use crate::pipeline::EventStream;
use crate::{ChatKitError, ChatKitServer, JsonBody, RequestContext};

/// `turns.cancel`: wakes the turn if it runs in this process, else leaves the flag it polls
/// (one store write). Answers `{}` either way: a turn that already ended has nothing to stop.
pub(crate) async fn cancel(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: CancelTurnParams,
) -> Result<JsonBody, ChatKitError> {
    if !s.running.cancel_local(&ctx.user, &p.turn_id) {
        s.store.request_cancel(&ctx.user, &p.turn_id).await?;
    }
    Ok(JsonBody::empty())
}

/// How long an `Idempotency-Key` header holds.
const HEADER_KEY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// What makes a new message a repeat of one already stored: the client's `Idempotency-Key`
/// (a day), or else the same input in the same thread within the duplicate window (a double
/// submit). `scope` is the thread id, or `new` for a thread's first message.
fn message_key(
    s: &ChatKitServer,
    ctx: &RequestContext,
    scope: &str,
    input: &UserMessageInput,
) -> Option<IdempotencyKey> {
    let (kind, material, window) = match &ctx.idempotency_key {
        Some(key) => ("header", key.as_bytes().to_vec(), HEADER_KEY_WINDOW),
        None if !s.config.duplicate_window.is_zero() => {
            ("input", serde_json::to_vec(input).ok()?, s.config.duplicate_window)
        }
        None => return None,
    };
    let mut hash = Sha256::new();
    for part in [kind.as_bytes(), scope.as_bytes(), &material] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let key = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(IdempotencyKey { key, window })
}

/// Builds the user message, attaching (and re-saving with `thread_id`, upload descriptor
/// dropped) its attachments: per attachment one metadata read, one object check while its
/// upload is pending, one write.
async fn user_message(
    s: &ChatKitServer,
    ctx: &RequestContext,
    thread_id: &str,
    input: UserMessageInput,
) -> Result<UserMessageItem, ChatKitError> {
    if input.content.is_empty() && input.attachments.is_empty() {
        return Err(ChatKitError::BadRequest {
            message: "the message is empty: `content` and `attachments` are both empty".into(),
            field: Some("params.input.content".into()),
        });
    }
    s.responder.check_input(&input, ctx)?;
    // every attachment is checked (the caller's, uploaded as declared) before any is saved
    let checked = attachments::referenced(s, &ctx.user, thread_id, &input.attachments).await?;
    let attachments = attachments::attach(s, ctx, checked).await?;
    Ok(UserMessageItem {
        id: ids::new_id(ids::prefix::MESSAGE),
        thread_id: thread_id.to_string(),
        created_at: timestamp::now(),
        content: input.content,
        attachments,
        quoted_text: input.quoted_text,
        inference_options: input.inference_options,
    })
}

/// A user message as sent to the client: its attachments with fresh URLs.
async fn presented(s: &ChatKitServer, ctx: &RequestContext, item: &ThreadItem) -> ThreadItem {
    let mut items = [item.clone()];
    attachments::present_items(s, &ctx.user, &mut items).await;
    let [item] = items;
    item
}

/// New thread and its first message, written together in one request. No store round trip
/// stands before the model call: the turn starts at once and the write overlaps the model's
/// first-token wait. Nothing is sent (and nothing the turn makes is saved) before the write
/// landed; if it fails, the turn is stopped and the request gets the error, so the client
/// still has the message to send again.
pub(crate) async fn create_thread(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: CreateThreadParams,
) -> Result<EventStream, ChatKitError> {
    let thread = ThreadMetadata::new(ids::new_id(ids::prefix::THREAD), timestamp::now());
    let key = message_key(s, &ctx, "new", &p.input);
    let message = user_message(s, &ctx, &thread.id, p.input).await?;
    let item = ThreadItem::UserMessage(message.clone());
    let prelude = vec![
        ThreadStreamEvent::ThreadCreated { thread: thread.to_wire(Page::default()) },
        ThreadStreamEvent::ItemDone { item: presented(s, &ctx, &item).await },
    ];
    let user = ctx.user.clone();
    let (landed, persisted) = oneshot::channel();
    let events = respond_after(
        s,
        turn(s, ctx, thread.clone(), Some(message), vec![item.clone()]),
        prelude,
        vec![],
        Some(persisted),
    );
    let items = std::slice::from_ref(&item);
    // on failure `landed` and `events` are dropped: the turn stops, nothing was sent
    match &key {
        Some(key) => s.store.create_thread_once(&user, &thread, items, key).await?,
        None => s.store.create_thread(&user, &thread, items).await?,
    }
    let _ = landed.send(());
    Ok(events)
}

/// Appends a user message: one read (thread + history) and one write. Without attachments the
/// read is `prefetched` (run while the request was admitted), and the write overlaps the
/// model's first-token wait as in [`create_thread`]: nothing is sent (and nothing the turn
/// makes is saved) before it landed; if it fails, the turn is stopped and the request gets
/// the error. With attachments, they are checked against the thread first. A repeat of a
/// message already stored (same `Idempotency-Key`, or the same input within the duplicate
/// window) is a 409 and writes nothing; the write is one request either way.
pub(crate) async fn add_user_message(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: AddUserMessageParams,
    prefetched: Option<Result<chatkit_store::ThreadWithItems, ChatKitError>>,
) -> Result<EventStream, ChatKitError> {
    let key = message_key(s, &ctx, &p.thread_id, &p.input);
    let loaded = match prefetched {
        Some(loaded) => loaded?,
        None => load_recent(s, &ctx, &p.thread_id).await?,
    };
    // attachments are re-saved with the thread id: the thread is known now
    let message = user_message(s, &ctx, &loaded.thread.id, p.input).await?;
    let item = ThreadItem::UserMessage(message.clone());
    // the read may or may not already see the new message (a retried request)
    let mut history: Vec<ThreadItem> =
        oldest_first(loaded.items.data).into_iter().filter(|i| i.id() != message.id).collect();
    history.push(item.clone());
    let done = ThreadStreamEvent::ItemDone { item: presented(s, &ctx, &item).await };
    let (user, request_id) = (ctx.user.clone(), ctx.request_id.clone());
    let thread_id = loaded.thread.id.clone();
    let (landed, persisted) = oneshot::channel();
    let turn = turn(s, ctx, loaded.thread, Some(message), history);
    let events = respond_after(s, turn, vec![done], vec![], Some(persisted));
    // on failure `landed` and `events` are dropped: the turn stops, nothing was sent
    let saved = match &key {
        Some(key) => s.store.save_item_once(&user, &thread_id, &item, key).await,
        None => s.store.save_item(&user, &thread_id, &item).await,
    };
    if let Err(err) = saved {
        tracing::debug!(%request_id, "the user message was not stored; its turn is stopped");
        return Err(err.into());
    }
    let _ = landed.send(());
    Ok(events)
}

/// Completes the newest pending client tool call among the recent items (not only the very
/// last one, so a page refresh mid-tool does not break the thread), then resumes the turn.
pub(crate) async fn add_client_tool_output(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: AddClientToolOutputParams,
) -> Result<EventStream, ChatKitError> {
    let loaded = load_recent(s, &ctx, &p.thread_id).await?;
    let mut history = oldest_first(loaded.items.data);
    let pending: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, item)| matches!(item, ThreadItem::ClientToolCall(c) if c.status == ToolCallStatus::Pending))
        .map(|(i, _)| i)
        .collect();
    let Some(&newest) = pending.last() else {
        let answered = history.iter().any(|item| matches!(item, ThreadItem::ClientToolCall(_)));
        return Err(if answered {
            ChatKitError::Conflict(format!(
                "the client tool call of thread {} was already completed",
                p.thread_id
            ))
        } else {
            ChatKitError::bad_request(format!(
                "thread {} has no pending client tool call",
                p.thread_id
            ))
        });
    };
    if let ThreadItem::ClientToolCall(call) = &mut history[newest] {
        call.status = ToolCallStatus::Completed;
        call.output = Some(p.result);
    }
    // conditional on the call still being pending: of two concurrent outputs one wins (409)
    s.store.complete_item(&ctx.user, &loaded.thread.id, &history[newest]).await?;
    let stale: Vec<String> =
        pending[..pending.len() - 1].iter().map(|&i| history[i].id().to_string()).collect();
    if !stale.is_empty() {
        warn!(request_id = %ctx.request_id, count = stale.len(), "removing older pending client tool calls");
        s.store.delete_items(&ctx.user, &loaded.thread.id, &stale).await?;
        history.retain(|item| !stale.iter().any(|id| id == item.id()));
    }
    let turn = turn(s, ctx, loaded.thread, None, history);
    Ok(respond(s, turn, vec![], vec![]))
}

/// Answers a pending structured input: stored before the stream, sent as `replaced` right
/// after `stream_options`, then the turn.
pub(crate) async fn add_structured_input(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: AddStructuredInputParams,
) -> Result<EventStream, ChatKitError> {
    let loaded = load_recent(s, &ctx, &p.thread_id).await?;
    let mut history = oldest_first(loaded.items.data);
    let position = history.iter().position(|item| item.id() == p.item_id);
    let item = match position {
        Some(i) => history[i].clone(),
        None => s.store.load_item(&ctx.user, &loaded.thread.id, &p.item_id).await?,
    };
    let ThreadItem::StructuredInput(mut input) = item else {
        return Err(ChatKitError::bad_request(format!(
            "item {} is not a structured input",
            p.item_id
        )));
    };
    if input.status != StructuredInputStatus::Pending {
        return Err(ChatKitError::Conflict(format!(
            "structured input {} was already answered",
            p.item_id
        )));
    }
    apply_submission(&mut input, p.input);
    let updated = ThreadItem::StructuredInput(input);
    // conditional on it still being pending: of two concurrent answers one wins (409)
    s.store.complete_item(&ctx.user, &loaded.thread.id, &updated).await?;
    if let Some(i) = position {
        history[i] = updated.clone();
    }
    let turn = turn(s, ctx, loaded.thread, None, history);
    Ok(respond(s, turn, vec![], vec![ThreadStreamEvent::ItemReplaced { item: updated }]))
}

/// The reference rules: a skipped submission, a missing or skipped answer, or no values is
/// `skipped`; single-choice questions keep only the first value.
fn apply_submission(item: &mut StructuredInputItem, submission: StructuredInputSubmission) {
    let all_skipped = submission.status == StructuredInputStatus::Skipped;
    for input in &mut item.inputs {
        let (id, answer, single) = match input {
            StructuredInput::MultipleChoice { id, answer, multiple, .. } => {
                (id, answer, !*multiple)
            }
            StructuredInput::Freeform { id, answer, .. } => (id, answer, false),
        };
        let given = submission
            .answers
            .get(id.as_str())
            .filter(|a| !all_skipped && !a.skipped && !a.values.is_empty());
        *answer = Some(match given {
            None => StructuredAnswer { values: vec![], skipped: true },
            Some(a) => {
                let values = if single { a.values[..1].to_vec() } else { a.values.clone() };
                StructuredAnswer { values, skipped: false }
            }
        });
    }
    item.status = submission.status;
}

/// Deletes everything after a user message and answers it again.
pub(crate) async fn retry_after_item(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: ThreadItemParams,
) -> Result<EventStream, ChatKitError> {
    let loaded = load_recent(s, &ctx, &p.thread_id).await?;
    let mut newer: Vec<String> = Vec::new();
    let mut page = loaded.items;
    let (target, mut older) = loop {
        if let Some(i) = page.data.iter().position(|item| item.id() == p.item_id) {
            let mut rest = page.data.split_off(i);
            let target = rest.remove(0);
            newer.extend(page.data.iter().map(|item| item.id().to_string()));
            break (target, rest);
        }
        newer.extend(page.data.iter().map(|item| item.id().to_string()));
        if !page.has_more {
            return Err(ChatKitError::NotFound(format!(
                "item not found: {}",
                chatkit_protocol::ids::echo(&p.item_id)
            )));
        }
        let next = PageRequest::new(100, Order::Desc).after(page.after.clone());
        page = s.store.load_thread_items(&ctx.user, &loaded.thread.id, &next).await?.items;
    };
    let ThreadItem::UserMessage(message) = target.clone() else {
        return Err(ChatKitError::bad_request(format!(
            "item {} is not a user message; only user messages can be retried",
            p.item_id
        )));
    };
    if !newer.is_empty() {
        s.store.delete_items(&ctx.user, &loaded.thread.id, &newer).await?;
    }
    older.truncate(s.config.history_items.saturating_sub(1));
    let mut history = oldest_first(older);
    history.push(target);
    let turn = turn(s, ctx, loaded.thread, Some(message), history);
    Ok(respond(s, turn, vec![], vec![]))
}
