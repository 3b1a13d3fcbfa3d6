//! Add your own widget and action: a worked example.
//!
//! - [`ShowOrder`], a server tool: the model calls `show_order`, the tool shows the order as
//!   a card with **Approve** and **Reject** buttons (`ctx.events.widget(…)`), and tells the
//!   model what it showed.
//! - [`ApproveOrder`], the handler of the `orders.approve` action: replaces the card with
//!   the approved one (`thread.item.replaced`), emits the `order_approved` client effect (the
//!   page can refresh its order list) and an info `notice`. As a sync action it returns the
//!   updated card.
//! - [`RejectOrder`], the handler of `orders.reject`: marks the card rejected and starts a
//!   model turn that knows what the user did (so the assistant can follow up).
//!
//! The handlers read the payload with `widget_payload`: checked against the card's own
//! action, so the `order_id` is the one the server rendered, never one the user typed in.
//!
//! Wire it into the agent with [`with_orders`].

use std::sync::Arc;

use async_trait::async_trait;
use chatkit_agent::{Agent, Tool, ToolContext, ToolError};
use chatkit_protocol::widgets::{
    ActionConfig, Badge, Button, Caption, Card, Row, Text, Title, WidgetRoot,
};
use chatkit_protocol::{timestamp, HiddenContextItem, NoticeLevel, ThreadItem, WidgetItem};
use chatkit_server::{
    ActionContext, ActionHandler, ChatKitError, EventSink, StreamError, SyncActionContext,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The action types this example handles.
pub const APPROVE: &str = "orders.approve";
pub const REJECT: &str = "orders.reject";

/// An order (a stand-in for your own API, called with the user's identity).
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub customer: String,
    pub lines: Vec<(String, u32)>,
    pub total: String,
}

/// The demo's orders.
pub fn find_order(id: &str) -> Option<Order> {
    match id.trim_start_matches('#') {
        "42" => Some(Order {
            id: "42".into(),
            customer: "Ada Lovelace".into(),
            lines: vec![("Notebook".into(), 2), ("Fountain pen".into(), 1)],
            total: "31.50 EUR".into(),
        }),
        "7" => Some(Order {
            id: "7".into(),
            customer: "Alan Turing".into(),
            lines: vec![("Chess set".into(), 1)],
            total: "89.00 EUR".into(),
        }),
        _ => None,
    }
}

/// Where an order stands on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

/// The order card: details, then buttons while it is pending, a badge once decided.
pub fn order_card(order: &Order, status: Status) -> WidgetRoot {
    let mut children = vec![
        Title::new(format!("Order #{}", order.id)).into(),
        Caption::new(&order.customer).into(),
    ];
    for (name, quantity) in &order.lines {
        children.push(Text::new(format!("{quantity} × {name}")).into());
    }
    children
        .push(Text::new(format!("Total: {}", order.total)).id("total").weight("semibold").into());
    let payload = json!({"order_id": order.id});
    children.push(match status {
        Status::Pending => Row::new([
            Button::new("Approve")
                .style("primary")
                .icon_start("check")
                .action(ActionConfig::new(APPROVE).payload(payload.clone()))
                .into(),
            Button::new("Reject")
                .style("secondary")
                .action(ActionConfig::new(REJECT).payload(payload))
                .into(),
        ])
        .gap(json!(2))
        .into(),
        Status::Approved => Badge::new("Approved").color("success").into(),
        Status::Rejected => Badge::new("Rejected").color("danger").into(),
    });
    Card::new(children).id(format!("order-{}", order.id)).into()
}

fn copy_text(order: &Order, status: Status) -> String {
    format!("Order #{} for {}: {} ({status:?})", order.id, order.customer, order.total)
}

/// The `show_order` server tool.
pub struct ShowOrder;

#[async_trait]
impl Tool for ShowOrder {
    fn name(&self) -> &str {
        "show_order"
    }

    fn description(&self) -> &str {
        "Shows an order to the user as a card with Approve and Reject buttons."
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"order_id": {"type": "string", "description": "The order number, e.g. 42."}},
               "required": ["order_id"], "additionalProperties": false})
    }

    fn progress_text(&self) -> String {
        "Looking up the order…".into()
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let id = args["order_id"].as_str().unwrap_or_default();
        let order =
            find_order(id).ok_or_else(|| ToolError::new(format!("there is no order `{id}`")))?;
        let card = order_card(&order, Status::Pending);
        ctx.events
            .widget(card, Some(copy_text(&order, Status::Pending)))
            .await
            .map_err(|_| ToolError::new("the stream closed"))?;
        Ok(json!({"order_id": order.id, "total": order.total, "status": "pending",
                  "shown_to_the_user": "as a card with Approve and Reject buttons; do not repeat its details"}))
    }
}

#[derive(Deserialize)]
struct OrderPayload {
    order_id: String,
}

fn order_of(id: &str) -> Option<Order> {
    find_order(id)
}

/// Handles `orders.approve`.
pub struct ApproveOrder;

#[async_trait]
impl ActionHandler for ApproveOrder {
    async fn handle(
        &self,
        mut action: ActionContext,
        events: EventSink,
    ) -> Result<(), StreamError> {
        let OrderPayload { order_id } = action.widget_payload()?;
        let order = order_of(&order_id).ok_or_else(|| {
            StreamError::custom(format!("Order #{order_id} no longer exists."), false)
        })?;
        // (a real handler approves the order in its system here, as action.turn.context.user)
        action
            .replace_widget(
                &events,
                order_card(&order, Status::Approved),
                Some(copy_text(&order, Status::Approved)),
            )
            .await?;
        events.client_effect("order_approved", json!({"order_id": order.id})).await?;
        events
            .notice(NoticeLevel::Info, format!("Order **#{}** approved.", order.id), None)
            .await?;
        Ok(())
    }

    async fn handle_sync(
        &self,
        action: SyncActionContext,
    ) -> Result<Option<WidgetItem>, ChatKitError> {
        let OrderPayload { order_id } = action.widget_payload()?;
        let order = order_of(&order_id)
            .ok_or_else(|| ChatKitError::NotFound(format!("order not found: {order_id}")))?;
        action
            .updated_widget(
                order_card(&order, Status::Approved),
                Some(copy_text(&order, Status::Approved)),
            )
            .map(Some)
    }
}

/// Handles `orders.reject`: the card shows the rejection, and the model is asked to follow up.
pub struct RejectOrder;

#[async_trait]
impl ActionHandler for RejectOrder {
    async fn handle(
        &self,
        mut action: ActionContext,
        events: EventSink,
    ) -> Result<(), StreamError> {
        let OrderPayload { order_id } = action.widget_payload()?;
        let order = order_of(&order_id).ok_or_else(|| {
            StreamError::custom(format!("Order #{order_id} no longer exists."), false)
        })?;
        action
            .replace_widget(
                &events,
                order_card(&order, Status::Rejected),
                Some(copy_text(&order, Status::Rejected)),
            )
            .await?;
        let note = HiddenContextItem {
            id: events.new_id("msg"),
            thread_id: events.thread_id().to_string(),
            created_at: timestamp::now(),
            content: json!(format!("The user rejected order #{} with the Reject button. Ask them briefly why, and offer to notify the customer.", order.id)),
        };
        action.respond(&events, vec![ThreadItem::HiddenContextItem(note)]).await
    }
}

/// The agent with the example's tool and action handlers.
pub fn with_orders(agent: Agent) -> Agent {
    agent
        .with_tool(Arc::new(ShowOrder))
        .with_action(APPROVE, Arc::new(ApproveOrder))
        .with_action(REJECT, Arc::new(RejectOrder))
}

/// The Rust snippets of `docs/agent.md` and `docs/server.md`, compiled as doc tests by
/// `make test`, so the docs show code that builds.
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../../../docs/agent.md")]
    struct Agent;
    #[doc = include_str!("../../../docs/server.md")]
    struct Server;
}
