//! `threads.custom_action` (streamed) and `threads.sync_custom_action` (JSON), dispatched by
//! action type through the [`ActionRegistry`] (the server's, else the responder's), or to
//! the responder's `action` / `sync_action` when there is none.

use std::sync::Arc;

use chatkit_protocol::{
    Action, CustomActionParams, SyncCustomActionResponse, ThreadItem, WidgetItem,
};
use serde_json::Value;

use super::pipeline::{load_recent, stream, turn};
use crate::actions::{ActionContext, ActionHandler, ActionRegistry, SyncActionContext};
use crate::pipeline::EventStream;
use crate::{ChatKitError, ChatKitServer, JsonBody, RequestContext};

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

/// A request naming the widget that sent it may only send an action that widget offers: one
/// of its components has an action of this type whose declared payload fields all hold the
/// same values in the request (a form adds its fields beside them). So a user cannot change
/// a button's `order_id` on the way.
fn check_offered(widget: &WidgetItem, action: &Action) -> Result<(), ChatKitError> {
    let tree = serde_json::to_value(&widget.widget).unwrap_or_default();
    if offers(&tree, action) {
        return Ok(());
    }
    Err(ChatKitError::BadRequest {
        message: format!(
            "widget {} offers no `{}` action with this payload",
            chatkit_protocol::ids::echo(&widget.id),
            chatkit_protocol::ids::echo(&action.kind)
        ),
        field: Some("params.action".into()),
    })
}

fn offers(node: &Value, action: &Action) -> bool {
    match node {
        Value::Object(fields) => {
            let declared = fields.get("type").and_then(Value::as_str) == Some(action.kind.as_str())
                && match fields.get("payload") {
                    None | Some(Value::Null) => true,
                    Some(Value::Object(declared)) => {
                        declared.iter().all(|(key, value)| action.payload.get(key) == Some(value))
                    }
                    Some(other) => &action.payload == other,
                };
            declared || fields.values().any(|child| offers(child, action))
        }
        Value::Array(children) => children.iter().any(|child| offers(child, action)),
        _ => false,
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
    if let Some(widget) = &widget {
        check_offered(widget, &p.action)?;
    }
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
) -> Result<JsonBody, ChatKitError> {
    let handler = handler(s, &p.action.kind)?;
    let thread = s.store.load_thread(&ctx.user, &p.thread_id).await?;
    let widget = match &p.item_id {
        None => None,
        Some(id) => Some(sender(s.store.load_item(&ctx.user, &thread.id, id).await?)?),
    };
    if let Some(widget) = &widget {
        check_offered(widget, &p.action)?;
    }
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
    JsonBody::of(&response)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn action(kind: &str, payload: Value) -> Action {
        Action { kind: kind.into(), payload }
    }

    #[test]
    fn a_widget_offers_its_own_actions_only() {
        let card = json!({"type": "Card", "children": [
            {"type": "Button", "label": "Approve", "onClickAction": {"type": "orders.approve", "payload": {"order_id": "42"}}},
            {"type": "Form", "onSubmitAction": {"type": "notes.save", "payload": {"note_id": "n1"}}, "children": []},
            {"type": "Button", "label": "Refresh", "onClickAction": {"type": "refresh"}}
        ]});
        assert!(offers(&card, &action("orders.approve", json!({"order_id": "42"}))));
        assert!(!offers(&card, &action("orders.approve", json!({"order_id": "7"}))));
        assert!(!offers(&card, &action("orders.approve", json!({}))));
        assert!(!offers(&card, &action("orders.approve", Value::Null)));
        assert!(!offers(&card, &action("orders.reject", json!({"order_id": "42"}))));
        // a form's fields come beside the declared ones
        assert!(offers(&card, &action("notes.save", json!({"note_id": "n1", "text": "hi"}))));
        assert!(!offers(&card, &action("notes.save", json!({"note_id": "n2", "text": "hi"}))));
        // an action declared without a payload binds nothing
        assert!(offers(&card, &action("refresh", json!({"anything": 1}))));
    }
}
