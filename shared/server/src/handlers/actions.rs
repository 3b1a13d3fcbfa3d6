//! `threads.custom_action` (streamed) and `threads.sync_custom_action` (JSON).

use chatkit_protocol::{CustomActionParams, ThreadItem, WidgetItem};
use serde_json::Value;

use super::to_json;
use super::turns::{load_recent, stream, turn};
use crate::pipeline::EventStream;
use crate::{ChatKitError, ChatKitServer, RequestContext};

/// The widget that sent an action: 404 when missing, 400 when it is not a widget.
fn sender(item: ThreadItem) -> Result<WidgetItem, ChatKitError> {
    match item {
        ThreadItem::Widget(widget) => Ok(widget),
        other => Err(ChatKitError::bad_request(format!("item {} is not a widget and cannot send actions", other.id()))),
    }
}

pub(crate) async fn custom_action(s: &ChatKitServer, ctx: RequestContext, p: CustomActionParams) -> Result<EventStream, ChatKitError> {
    let loaded = load_recent(s, &ctx, &p.thread_id).await?;
    let mut history = loaded.items.data;
    history.reverse();
    let widget = match &p.item_id {
        None => None,
        Some(id) => Some(sender(match history.iter().find(|item| item.id() == id) {
            Some(item) => item.clone(),
            None => s.store.load_item(&ctx.user, &loaded.thread.id, id).await?,
        })?),
    };
    let turn = turn(s, ctx, loaded.thread, None, history);
    let action = p.action;
    Ok(stream(s, turn, vec![], vec![], move |responder, turn, sink| {
        Box::pin(async move { responder.action(turn, action, widget, sink).await })
    }))
}

pub(crate) async fn sync_custom_action(s: &ChatKitServer, ctx: RequestContext, p: CustomActionParams) -> Result<Value, ChatKitError> {
    let thread = s.store.load_thread(&ctx.user, &p.thread_id).await?;
    let widget = match &p.item_id {
        None => None,
        Some(id) => Some(sender(s.store.load_item(&ctx.user, &thread.id, id).await?)?),
    };
    let response = s.responder.sync_action(&ctx, &thread, p.action, widget).await?;
    to_json(&response)
}
