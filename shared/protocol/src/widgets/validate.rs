//! The JSON checks a widget must pass before it is sent: a bad tree never reaches the
//! client as a broken frame.

use serde_json::Value;

/// Why a JSON tree is not a widget the client can render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid widget at {path}: {message}")]
pub struct WidgetError {
    pub path: String,
    pub message: String,
}

/// Deepest accepted tree and most nodes (hostile input).
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 2000;

/// Root types the client renders.
pub const ROOT_TYPES: [&str; 3] = ["Card", "ListView", "Basic"];

/// Whether `value` claims to be a widget root (an object whose `type` is a root type):
/// structured tool output that does is checked with [`validate_widget`].
pub fn looks_like_widget(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str).is_some_and(|t| ROOT_TYPES.contains(&t))
}

/// Checks a widget tree as the official schema's `WidgetRoot` does (a root `Card`,
/// `ListView` or `Basic`; every component an object with a string `type`; `key`/`id`
/// strings; `children` a component or a list of them), plus the props the client cannot
/// render without: text values, badge labels, icon names, image sources, and action configs
/// (`…Action`, `confirm`, `cancel`) with a string `type`. Bounded in depth and size.
pub fn validate_widget(value: &Value) -> Result<(), WidgetError> {
    let kind = value.get("type").and_then(Value::as_str);
    if !value.is_object() || !kind.is_some_and(|t| ROOT_TYPES.contains(&t)) {
        return Err(WidgetError {
            path: "$".into(),
            message: "the root must be an object of type Card, ListView or Basic".into(),
        });
    }
    let mut nodes = 0;
    check_node(value, "$", 0, &mut nodes)
}

fn fail(path: &str, message: impl Into<String>) -> Result<(), WidgetError> {
    Err(WidgetError { path: path.to_string(), message: message.into() })
}

fn check_node(
    node: &Value,
    path: &str,
    depth: usize,
    nodes: &mut usize,
) -> Result<(), WidgetError> {
    *nodes += 1;
    if depth > MAX_DEPTH || *nodes > MAX_NODES {
        return fail(
            path,
            format!("the tree is deeper than {MAX_DEPTH} or larger than {MAX_NODES} components"),
        );
    }
    let Some(object) = node.as_object() else { return fail(path, "a component must be an object") };
    let Some(kind) = object.get("type").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return fail(path, "a component needs a string `type`");
    };
    for key in ["key", "id"] {
        if !matches!(object.get(key), None | Some(Value::Null | Value::String(_))) {
            return fail(&format!("{path}.{key}"), "must be a string");
        }
    }
    let required = match kind {
        "Text" | "Title" | "Caption" | "Markdown" => Some("value"),
        "Badge" => Some("label"),
        "Icon" => Some("name"),
        "Image" => Some("src"),
        _ => None,
    };
    if let Some(field) = required {
        if !object.get(field).is_some_and(Value::is_string) {
            return fail(&format!("{path}.{field}"), format!("a {kind} needs a string `{field}`"));
        }
    }
    if matches!(kind, "Card" | "ListView" | "ListViewItem")
        && !object.get("children").is_some_and(Value::is_array)
    {
        return fail(&format!("{path}.children"), format!("a {kind} needs a list of children"));
    }
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        let at = format!("{path}.{key}");
        if key.ends_with("Action") {
            check_action(value, &at)?;
        } else if key == "confirm" || key == "cancel" {
            if !value.get("label").is_some_and(Value::is_string) {
                return fail(&at, "a card action needs a string `label`");
            }
            check_action(value.get("action").unwrap_or(&Value::Null), &format!("{at}.action"))?;
        }
    }
    match object.get("children") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(children)) => {
            for (i, child) in children.iter().enumerate() {
                check_node(child, &format!("{path}.children[{i}]"), depth + 1, nodes)?;
            }
            Ok(())
        }
        Some(child @ Value::Object(_)) => {
            check_node(child, &format!("{path}.children"), depth + 1, nodes)
        }
        Some(_) => fail(&format!("{path}.children"), "must be a component or a list of components"),
    }
}

fn check_action(value: &Value, path: &str) -> Result<(), WidgetError> {
    if !value.get("type").is_some_and(Value::is_string) {
        return fail(path, "an action needs a string `type`");
    }
    if let Some(handler) = value.get("handler").filter(|h| !h.is_null()) {
        if !matches!(handler.as_str(), Some("client" | "server")) {
            return fail(&format!("{path}.handler"), "must be `client` or `server`");
        }
    }
    if let Some(streaming) = value.get("streaming").filter(|s| !s.is_null()) {
        if !streaming.is_boolean() {
            return fail(&format!("{path}.streaming"), "must be a boolean");
        }
    }
    Ok(())
}
