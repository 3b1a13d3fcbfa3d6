//! `threads.custom_action` (streamed) and `threads.sync_custom_action` (JSON), dispatched by
//! action type through the [`ActionRegistry`] (the server's, else the responder's), or to
//! the responder's `action` / `sync_action` when there is none.

use std::sync::Arc;

use chatkit_protocol::{CustomActionParams, SyncCustomActionResponse, ThreadItem, WidgetItem};
use serde_json::Value;

use super::pipeline::{load_recent, stream, turn};
use super::to_json;
use crate::actions::{ActionContext, ActionHandler, ActionRegistry, SyncActionContext};
use crate::pipeline::EventStream;
use crate::{ChatKitError, ChatKitServer, RequestContext};

/// The widget that sent an action: 404 when missing, 400 when it is not a widget.
fn sender(item: ThreadItem) -> Result<WidgetItem, ChatKitError> {
    match item {
        ThreadItem::Widget(widget) => Ok(widget),
        other => Err(ChatKitError::bad_request(format!(
            "item {} is not a widget and cannot send actions",
            other.id()
        ))),
    }
}

fn registry(s: &ChatKitServer) -> Option<&ActionRegistry> {
    s.actions.as_ref().or_else(|| s.responder.actions())
}

/// The registered handler for the action, or the 400 for an unknown type; `None` when no
/// registry is in use.
fn handler(s: &ChatKitServer, kind: &str) -> Result<Option<Arc<dyn ActionHandler>>, ChatKitError> {
    match registry(s) {
        None => Ok(None),
        Some(registry) => {
            registry.get(kind).cloned().map(Some).ok_or_else(|| registry.unknown(kind))
        }
    }
}

pub(crate) async fn custom_action(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: CustomActionParams,
) -> Result<EventStream, ChatKitError> {
    let handler = handler(s, &p.action.kind)?;
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
        Box::pin(async move {
            match handler {
                Some(handler) => {
                    handler
                        .handle(ActionContext { turn, action, sender: widget, responder }, sink)
                        .await
                }
                None => responder.action(turn, action, widget, sink).await,
            }
        })
    }))
}

/// The handler's updated widget is stored before it is returned (the reference server
/// leaves that to `sync_action`; a widget the user changed should survive a reload).
pub(crate) async fn sync_custom_action(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: CustomActionParams,
) -> Result<Value, ChatKitError> {
    let handler = handler(s, &p.action.kind)?;
    let thread = s.store.load_thread(&ctx.user, &p.thread_id).await?;
    let widget = match &p.item_id {
        None => None,
        Some(id) => Some(sender(s.store.load_item(&ctx.user, &thread.id, id).await?)?),
    };
    let response = match handler {
        Some(handler) => {
            let thread_id = thread.id.clone();
            let context = SyncActionContext {
                context: ctx.clone(),
                thread,
                action: p.action,
                sender: widget,
            };
            let updated = handler.handle_sync(context).await?;
            if let Some(item) = &updated {
                s.store.save_item(&ctx.user, &thread_id, &ThreadItem::Widget(item.clone())).await?;
            }
            SyncCustomActionResponse { updated_item: updated.map(ThreadItem::Widget) }
        }
        None => s.responder.sync_action(&ctx, &thread, p.action, widget).await?,
    };
    to_json(&response)
}
