//! `threads.get_by_id`, `threads.list`, `threads.update`, `threads.delete`.

use chatkit_protocol::{ListThreadsParams, Order, Page, ThreadParams, UpdateThreadParams};
use chatkit_store::PageRequest;

use super::{attachments, without_hidden};
use crate::{ChatKitError, ChatKitServer, JsonBody, RequestContext};

/// The thread with its first 20 items, oldest first, hidden items removed. One store request.
pub(crate) async fn get_by_id(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: ThreadParams,
) -> Result<JsonBody, ChatKitError> {
    let page = PageRequest::new(chatkit_store::DEFAULT_PAGE_SIZE, Order::Asc);
    let loaded = s.store.load_thread_items(&ctx.user, &p.thread_id, &page).await?;
    let mut items = without_hidden(loaded.items);
    attachments::present_items(s, &ctx.user, &mut items.data).await;
    JsonBody::of(&loaded.thread.to_wire(items))
}

/// The caller's threads, each with an empty items page. One store request.
pub(crate) async fn list(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: ListThreadsParams,
) -> Result<JsonBody, ChatKitError> {
    let page = PageRequest::new(p.limit.unwrap_or(0) as usize, p.order).after(p.after);
    let threads = s.store.list_threads(&ctx.user, &page).await?;
    JsonBody::of(&threads.map(|t| t.to_wire(Page::default())))
}

/// Renames a thread. Two store requests: load (ownership), save.
pub(crate) async fn update(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: UpdateThreadParams,
) -> Result<JsonBody, ChatKitError> {
    let mut thread = s.store.load_thread(&ctx.user, &p.thread_id).await?;
    thread.title = Some(p.title);
    s.store.save_thread(&ctx.user, &thread).await?;
    JsonBody::of(&thread.to_wire(Page::default()))
}

/// Deletes a thread and everything in it. A store that purges deleted threads later (DynamoDB:
/// a tombstone, then `functions/cleanup`) does it all, attachments included, in one request.
/// Otherwise, with attachments enabled, the bytes of the attachments its messages reference go
/// first and their metadata last, inline (see [`attachments::delete_thread_bytes`]).
pub(crate) async fn delete(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: ThreadParams,
) -> Result<JsonBody, ChatKitError> {
    if s.store.purges_deleted_threads_later() {
        s.store.delete_thread(&ctx.user, &p.thread_id).await?;
        return Ok(JsonBody::empty());
    }
    // a thread already being deleted has nothing left to read: the store decides (a retried
    // delete is fine while cleanup is pending)
    let attachment_ids = match attachments::delete_thread_bytes(s, &ctx.user, &p.thread_id).await {
        Err(ChatKitError::NotFound(_)) => Vec::new(),
        other => other?,
    };
    s.store.delete_thread(&ctx.user, &p.thread_id).await?;
    attachments::delete_metadata(s, &ctx, &attachment_ids).await;
    Ok(JsonBody::empty())
}
