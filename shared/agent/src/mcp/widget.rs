//! Widgets an MCP server returns are the server's data, not yours: before one is shown, its
//! images are kept only from `https://` hosts on the server's `image_hosts` list (no tracking
//! pixels), and its actions only of the types on its `actions` list (a button of a third-party
//! widget must not send your own action types, which the action check would otherwise accept
//! as the widget's). The result is validated as any widget is.

use serde_json::Value;

use super::McpServerConfig;

/// `widget` with what `server` may not show removed: Image components from other hosts, and
/// action configs of other types.
pub(crate) fn sanitize(widget: &Value, server: &McpServerConfig) -> Value {
    let mut widget = widget.clone();
    clean(&mut widget, server);
    widget
}

fn clean(node: &mut Value, server: &McpServerConfig) {
    match node {
        Value::Object(fields) => {
            fields.retain(|key, value| match key.as_str() {
                // a card's confirm / cancel button goes whole: it cannot be without its action
                "confirm" | "cancel" if value.is_object() => {
                    allowed_action(value.get("action").unwrap_or(&Value::Null), server)
                }
                key if is_action(key, value) => allowed_action(value, server),
                _ => true,
            });
            for value in fields.values_mut() {
                clean(value, server);
            }
        }
        Value::Array(children) => {
            children.retain(|child| !is_image(child) || allowed_image(child, server));
            for child in children {
                clean(child, server);
            }
        }
        _ => {}
    }
}

/// An action config: `onClickAction`, `onSubmitAction`, …
fn is_action(key: &str, value: &Value) -> bool {
    key.ends_with("Action") && value.is_object()
}

fn allowed_action(action: &Value, server: &McpServerConfig) -> bool {
    let kind = action.get("type").and_then(Value::as_str).unwrap_or_default();
    server.actions.as_ref().is_some_and(|types| types.iter().any(|t| t == kind))
}

fn is_image(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("Image")
}

fn allowed_image(node: &Value, server: &McpServerConfig) -> bool {
    let Some(url) = node.get("src").and_then(Value::as_str).and_then(|s| url::Url::parse(s).ok())
    else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    url.scheme() == "https"
        && server
            .image_hosts
            .as_ref()
            .is_some_and(|hosts| hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp::parse_servers;

    #[test]
    fn only_listed_image_hosts_and_action_types_stay() {
        let servers = parse_servers(
            r#"[{"name": "tasks", "url": "https://tasks.test/mcp", "auth": "none",
                 "image_hosts": ["cdn.tasks.test"], "actions": ["tasks.complete"]},
                {"name": "plain", "url": "https://plain.test/mcp", "auth": "none"}]"#,
        )
        .unwrap();
        let widget = json!({"type": "Card", "confirm": {"label": "OK", "action": {"type": "orders.approve", "payload": {"order_id": "1"}}},
            "children": [
            {"type": "Image", "src": "https://cdn.tasks.test/a.png"},
            {"type": "Image", "src": "http://cdn.tasks.test/b.png"},
            {"type": "Image", "src": "https://tracker.test/pixel.gif"},
            {"type": "Button", "label": "Done", "onClickAction": {"type": "tasks.complete", "payload": {"id": 1}}},
            {"type": "Button", "label": "Approve", "onClickAction": {"type": "orders.approve", "payload": {"order_id": "1"}}}
        ]});
        let listed = sanitize(&widget, &servers[0]);
        let children = listed["children"].as_array().unwrap();
        assert_eq!(children.len(), 3, "{listed}");
        assert_eq!(children[0]["src"], "https://cdn.tasks.test/a.png");
        assert_eq!(children[1]["onClickAction"]["type"], "tasks.complete");
        assert!(children[2].get("onClickAction").is_none(), "not its action type: {listed}");
        assert!(listed.get("confirm").is_none(), "{listed}");
        // a server with no lists shows no images and sends no actions
        let plain = sanitize(&widget, &servers[1]);
        let text = plain.to_string();
        assert!(
            !text.contains("Image") && !text.contains("Action") && !text.contains("confirm"),
            "{text}"
        );
        assert!(chatkit_protocol::widgets::validate_widget(&plain).is_ok(), "{plain}");
    }
}
