//! `items.list` and `items.feedback`.

use chatkit_protocol::{FeedbackParams, ListItemsParams};
use chatkit_store::PageRequest;
use serde_json::Value;

use super::{empty, to_json, without_hidden};
use crate::{ChatKitError, ChatKitServer, RequestContext};

/// One page of items, hidden ones removed after paging. One store request.
pub(crate) async fn list(s: &ChatKitServer, ctx: RequestContext, p: ListItemsParams) -> Result<Value, ChatKitError> {
    let page = PageRequest::new(p.limit.unwrap_or(0) as usize, p.order).after(p.after);
    let loaded = s.store.load_thread_items(&ctx.user, &p.thread_id, &page).await?;
    to_json(&without_hidden(loaded.items))
}

/// Stores a thumbs up/down and tells the responder. The store's write itself checks that the
/// thread is the caller's (404 otherwise): one request per 99 items.
pub(crate) async fn feedback(s: &ChatKitServer, ctx: RequestContext, p: FeedbackParams) -> Result<Value, ChatKitError> {
    if p.item_ids.is_empty() {
        return Err(ChatKitError::BadRequest { message: "`item_ids` is empty".into(), field: Some("params.item_ids".into()) });
    }
    s.store.save_feedback(&ctx.user, &p.thread_id, &p.item_ids, p.kind).await?;
    s.responder.add_feedback(&ctx, &p.thread_id, &p.item_ids, p.kind).await?;
    Ok(empty())
}
