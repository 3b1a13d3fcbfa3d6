//! The tree edits behind widget streaming updates.

use serde_json::Value;

/// The component with `id` in the tree.
pub fn find_component_mut<'a>(node: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    if node.get("id").and_then(Value::as_str) == Some(id) {
        return Some(node);
    }
    match node.get_mut("children")? {
        Value::Array(children) => children.iter_mut().find_map(|c| find_component_mut(c, id)),
        child @ Value::Object(_) => find_component_mut(child, id),
        _ => None,
    }
}

/// Appends `delta` to the `value` of the Text/Markdown with `id` (what
/// `widget.streaming_text.value_delta` does on the client); false when there is none.
pub fn append_text(root: &mut Value, id: &str, delta: &str, done: bool) -> bool {
    let Some(component) = find_component_mut(root, id) else { return false };
    let Some(Value::String(value)) = component.get_mut("value") else { return false };
    value.push_str(delta);
    component["streaming"] = Value::Bool(!done);
    true
}

/// Replaces the component with `id` (what `widget.component.updated` does); false when
/// there is none.
pub fn replace_component(root: &mut Value, id: &str, component: Value) -> bool {
    match find_component_mut(root, id) {
        Some(slot) => {
            *slot = component;
            true
        }
        None => false,
    }
}
