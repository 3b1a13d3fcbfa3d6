//! `items.list` and `items.feedback`.

use chatkit_protocol::{FeedbackParams, ListItemsParams};
use chatkit_store::PageRequest;

use super::{attachments, without_hidden};
use crate::{ChatKitError, ChatKitServer, JsonBody, RequestContext};

/// One page of items, hidden ones removed after paging. One store request.
pub(crate) async fn list(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: ListItemsParams,
) -> Result<JsonBody, ChatKitError> {
    let page = PageRequest::new(p.limit.unwrap_or(0) as usize, p.order).after(p.after);
    let loaded = s.store.load_thread_items(&ctx.user, &p.thread_id, &page).await?;
    let mut items = without_hidden(loaded.items);
    attachments::present_items(s, &ctx.user, &mut items.data).await;
    JsonBody::of(&items)
}

/// Stores a thumbs up/down and tells the responder. The ids were checked (1 to 50
/// well-formed ids); the store's one write checks that the thread is the caller's and that
/// every item is in it (404 otherwise, nothing written).
pub(crate) async fn feedback(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: FeedbackParams,
) -> Result<JsonBody, ChatKitError> {
    s.store.save_feedback(&ctx.user, &p.thread_id, &p.item_ids, p.kind).await?;
    s.responder.add_feedback(&ctx, &p.thread_id, &p.item_ids, p.kind).await?;
    Ok(JsonBody::empty())
}
