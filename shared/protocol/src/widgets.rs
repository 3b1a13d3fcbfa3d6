//! Widgets (PROTOCOL.md §3.3): typed builders for the common components, the JSON checks a
//! widget must pass before it is sent (so a bad tree never reaches the client as a broken
//! frame), and the tree edits behind widget streaming updates.
//!
//! ```
//! use chatkit_protocol::widgets::*;
//! let card = Card::new([
//!     Title::new("Order #42").into(),
//!     Text::new("2 items, 31.50 EUR").id("summary").into(),
//!     Row::new([Button::new("Approve").action(ActionConfig::new("orders.approve").payload(serde_json::json!({"id": 42}))).into()]).into(),
//! ]);
//! let value = serde_json::to_value(WidgetRoot::from(card)).unwrap();
//! assert!(validate_widget(&value).is_ok());
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

/// What a widget action does when fired (`onClickAction`, `CardAction.action`, …).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionConfig {
    /// The action type the server's registry dispatches on.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub payload: Value,
    /// `"server"` (default) or `"client"` (the page's `widgets.onAction`).
    pub handler: Option<String>,
    /// `"auto"`, `"none"`, `"self"` or `"container"`.
    pub loading_behavior: Option<String>,
    /// `false`: the client sends `threads.sync_custom_action` and waits for the widget.
    pub streaming: Option<bool>,
}

impl ActionConfig {
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            payload: Value::Null,
            handler: None,
            loading_behavior: None,
            streaming: None,
        }
    }

    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// Handled with `threads.sync_custom_action` (the handler returns the updated widget).
    pub fn sync(mut self) -> Self {
        self.streaming = Some(false);
        self
    }

    /// Handled by the page (`widgets.onAction`), not the server.
    pub fn client(mut self) -> Self {
        self.handler = Some("client".into());
        self
    }
}

/// A Card's confirm / cancel button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardAction {
    pub label: String,
    pub action: ActionConfig,
}

macro_rules! builder {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        impl $name {
            pub fn id(mut self, id: impl Into<String>) -> Self { self.id = Some(id.into()); self }
            pub fn key(mut self, key: impl Into<String>) -> Self { self.key = Some(key.into()); self }
            $( pub fn $field(mut self, value: impl Into<$ty>) -> Self { self.$field = Some(value.into()); self } )*
        }
    };
}

/// A container card: the usual root.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub key: Option<String>,
    pub id: Option<String>,
    pub children: Vec<Component>,
    /// `sm`, `md`, `lg`, `full`.
    pub size: Option<String>,
    pub padding: Option<Value>,
    pub background: Option<Value>,
    pub as_form: Option<bool>,
    pub collapsed: Option<bool>,
    pub confirm: Option<CardAction>,
    pub cancel: Option<CardAction>,
}
builder!(Card {
    size: String,
    padding: Value,
    background: Value,
    as_form: bool,
    collapsed: bool,
    confirm: CardAction,
    cancel: CardAction
});

impl Card {
    pub fn new(children: impl IntoIterator<Item = Component>) -> Self {
        Self { children: children.into_iter().collect(), ..Self::default() }
    }
}

/// A list root of [`ListViewItem`]s.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListView {
    pub key: Option<String>,
    pub id: Option<String>,
    /// `ListViewItem`s.
    pub children: Vec<Component>,
    pub limit: Option<Value>,
}
builder!(ListView { limit: Value });

impl ListView {
    pub fn new(children: impl IntoIterator<Item = ListViewItem>) -> Self {
        Self { children: children.into_iter().map(Component::from).collect(), ..Self::default() }
    }
}

/// One row of a [`ListView`].
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListViewItem {
    pub key: Option<String>,
    pub id: Option<String>,
    pub children: Vec<Component>,
    pub on_click_action: Option<ActionConfig>,
    pub gap: Option<Value>,
    pub align: Option<String>,
}
builder!(ListViewItem { on_click_action: ActionConfig, gap: Value, align: String });

impl ListViewItem {
    pub fn new(children: impl IntoIterator<Item = Component>) -> Self {
        Self { children: children.into_iter().collect(), ..Self::default() }
    }
}

/// A root without chrome.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Basic {
    pub key: Option<String>,
    pub id: Option<String>,
    pub children: Vec<Component>,
}
builder!(Basic {});

impl Basic {
    pub fn new(children: impl IntoIterator<Item = Component>) -> Self {
        Self { children: children.into_iter().collect(), ..Self::default() }
    }
}

/// `Box`, `Row` and `Col`: layout containers.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    pub key: Option<String>,
    pub id: Option<String>,
    pub children: Vec<Component>,
    pub gap: Option<Value>,
    pub padding: Option<Value>,
    pub align: Option<String>,
    pub justify: Option<String>,
    pub wrap: Option<String>,
    /// `Box` only: `row` or `col`.
    pub direction: Option<String>,
}
builder!(Layout {
    gap: Value,
    padding: Value,
    align: String,
    justify: String,
    wrap: String,
    direction: String
});

/// A row of components.
pub struct Row;
/// A column of components.
pub struct Col;

impl Row {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(children: impl IntoIterator<Item = Component>) -> Layout {
        Layout { children: children.into_iter().collect(), ..Layout::default() }
    }
}

impl Col {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(children: impl IntoIterator<Item = Component>) -> Layout {
        Layout { children: children.into_iter().collect(), ..Layout::default() }
    }
}

macro_rules! text_like {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            pub key: Option<String>,
            pub id: Option<String>,
            pub value: String,
            $( pub $field: Option<$ty>, )*
        }
        builder!($name { $($field: $ty),* });
        impl $name {
            pub fn new(value: impl Into<String>) -> Self { Self { value: value.into(), ..Self::default() } }
        }
    };
}

text_like!(
    /// Plain text; with an `id` it can be streamed (`widget.streaming_text.value_delta`).
    Text { streaming: bool, weight: String, color: String, size: String, italic: bool, line_through: bool, truncate: bool }
);
text_like!(
    /// A heading.
    Title { weight: String, color: String, size: String }
);
text_like!(
    /// Small secondary text.
    Caption { weight: String, color: String, size: String }
);
text_like!(
    /// Markdown; with an `id` it can be streamed.
    Markdown { streaming: bool }
);

/// A small label.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Badge {
    pub key: Option<String>,
    pub id: Option<String>,
    pub label: String,
    /// `secondary`, `success`, `danger`, `warning`, `info`, `discovery`.
    pub color: Option<String>,
    pub variant: Option<String>,
    pub pill: Option<bool>,
}
builder!(Badge { color: String, variant: String, pill: bool });

impl Badge {
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), ..Self::default() }
    }
}

/// A button, usually wired to an action.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Button {
    pub key: Option<String>,
    pub id: Option<String>,
    pub label: Option<String>,
    pub on_click_action: Option<ActionConfig>,
    pub icon_start: Option<String>,
    pub icon_end: Option<String>,
    /// `primary` or `secondary`.
    pub style: Option<String>,
    pub color: Option<String>,
    pub variant: Option<String>,
    pub size: Option<String>,
    pub submit: Option<bool>,
    pub disabled: Option<bool>,
    pub block: Option<bool>,
}
builder!(Button {
    icon_start: String,
    icon_end: String,
    style: String,
    color: String,
    variant: String,
    size: String,
    submit: bool,
    disabled: bool,
    block: bool
});

impl Button {
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: Some(label.into()), ..Self::default() }
    }

    /// The action the click sends.
    pub fn action(mut self, action: ActionConfig) -> Self {
        self.on_click_action = Some(action);
        self
    }
}

/// A separator.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Divider {
    pub key: Option<String>,
    pub id: Option<String>,
    pub spacing: Option<Value>,
    pub flush: Option<bool>,
}

/// Flexible empty space.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spacer {
    pub key: Option<String>,
    pub id: Option<String>,
    pub min_size: Option<Value>,
}

/// A built-in icon (PROTOCOL.md §3.2 `IconName`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Icon {
    pub key: Option<String>,
    pub id: Option<String>,
    pub name: String,
    pub color: Option<String>,
    pub size: Option<String>,
}

impl Icon {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// An image.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Image {
    pub key: Option<String>,
    pub id: Option<String>,
    pub src: String,
    pub alt: Option<String>,
    pub width: Option<Value>,
    pub height: Option<Value>,
    pub radius: Option<String>,
    pub fit: Option<String>,
}

impl Image {
    pub fn new(src: impl Into<String>) -> Self {
        Self { src: src.into(), ..Self::default() }
    }
}

/// Any component inside a root, discriminated on `type`. `Other` carries a component this
/// module has no struct for (it is still checked by [`validate_widget`] before sending).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Component {
    Text(Text),
    Title(Title),
    Caption(Caption),
    Markdown(Markdown),
    Badge(Badge),
    Button(Button),
    Box(Layout),
    Row(Layout),
    Col(Layout),
    Divider(Divider),
    Spacer(Spacer),
    Icon(Icon),
    Image(Image),
    ListViewItem(ListViewItem),
    #[serde(untagged)]
    Other(Map<String, Value>),
}

macro_rules! into_component {
    ($($name:ident => $variant:ident),*) => {
        $( impl From<$name> for Component { fn from(c: $name) -> Self { Component::$variant(c) } } )*
    };
}
into_component!(Text => Text, Title => Title, Caption => Caption, Markdown => Markdown, Badge => Badge, Button => Button,
    Divider => Divider, Spacer => Spacer, Icon => Icon, Image => Image, ListViewItem => ListViewItem);

impl From<Layout> for Component {
    /// A `Row` (use `Component::Col` / `Component::Box` for the others).
    fn from(layout: Layout) -> Self {
        Component::Row(layout)
    }
}

/// A widget tree's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)] // built once per widget, then serialized
pub enum WidgetRoot {
    Card(Card),
    ListView(ListView),
    Basic(Basic),
}

impl From<Card> for WidgetRoot {
    fn from(c: Card) -> Self {
        WidgetRoot::Card(c)
    }
}
impl From<ListView> for WidgetRoot {
    fn from(c: ListView) -> Self {
        WidgetRoot::ListView(c)
    }
}
impl From<Basic> for WidgetRoot {
    fn from(c: Basic) -> Self {
        WidgetRoot::Basic(c)
    }
}
impl From<WidgetRoot> for Value {
    fn from(root: WidgetRoot) -> Self {
        serde_json::to_value(root).expect("widgets serialize")
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_widgets_serialize_as_the_protocol_expects_and_validate() {
        let card = Card::new([
            Title::new("Order #42").into(),
            Text::new("2 items").id("summary").weight("semibold").into(),
            Row::new([
                Button::new("Approve")
                    .style("primary")
                    .action(ActionConfig::new("orders.approve").payload(json!({"id": 42})))
                    .into(),
                Button::new("Reject").action(ActionConfig::new("orders.reject").sync()).into(),
            ])
            .gap(json!(2))
            .into(),
        ])
        .size("md");
        let value = Value::from(WidgetRoot::from(card));
        assert_eq!(value["type"], "Card");
        assert_eq!(
            value["children"][1],
            json!({"type": "Text", "id": "summary", "value": "2 items", "weight": "semibold"})
        );
        assert_eq!(value["children"][2]["type"], "Row");
        assert_eq!(
            value["children"][2]["children"][0]["onClickAction"],
            json!({"type": "orders.approve", "payload": {"id": 42}})
        );
        assert_eq!(value["children"][2]["children"][1]["onClickAction"]["streaming"], false);
        validate_widget(&value).unwrap();
        let back: WidgetRoot = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(Value::from(back), value);
        let list =
            Value::from(WidgetRoot::from(ListView::new([ListViewItem::new([
                Text::new("a").into()
            ])])));
        validate_widget(&list).unwrap();
        let other: Component =
            serde_json::from_value(json!({"type": "DatePicker", "name": "when"})).unwrap();
        assert!(matches!(other, Component::Other(_)));
    }

    #[test]
    fn invalid_trees_are_refused_with_the_place() {
        for (widget, at) in [
            (json!("Card"), "$"),
            (json!({"type": "Modal"}), "$"),
            (json!({"type": "Card", "children": "not a list"}), "$.children"),
            (json!({"type": "Card", "children": [{"value": "no type"}]}), "$.children[0]"),
            (json!({"type": "Card", "children": [{"type": "Text"}]}), "$.children[0].value"),
            (
                json!({"type": "Card", "children": [{"type": "Text", "value": 3}]}),
                "$.children[0].value",
            ),
            (
                json!({"type": "Card", "children": [{"type": "Button", "onClickAction": {"payload": 1}}]}),
                "$.children[0].onClickAction",
            ),
            (
                json!({"type": "Card", "children": [], "confirm": {"label": "OK", "action": {}}}),
                "$.confirm.action",
            ),
            (json!({"type": "Card", "id": 7, "children": []}), "$.id"),
            (
                json!({"type": "Basic", "children": [{"type": "Box", "children": [{"type": "Image"}]}]}),
                "$.children[0].children[0].src",
            ),
        ] {
            let err = validate_widget(&widget).unwrap_err();
            assert_eq!(err.path, at, "{widget}: {err}");
        }
        let mut deep = json!({"type": "Text", "value": "x"});
        for _ in 0..40 {
            deep = json!({"type": "Box", "children": [deep]});
        }
        assert!(validate_widget(&json!({"type": "Basic", "children": [deep]})).is_err());
        // dynamic roots and components the schema allows
        validate_widget(&json!({"type": "Basic"})).unwrap();
        validate_widget(&json!({"type": "Card", "children": [{"type": "Table", "children": {"type": "Table.Row"}}], "extra": 1})).unwrap();
        assert!(
            looks_like_widget(&json!({"type": "ListView"}))
                && !looks_like_widget(&json!({"type": "task"}))
        );
    }

    #[test]
    fn streaming_edits_apply_to_the_tree() {
        let mut root = json!({"type": "Card", "children": [{"type": "Row", "children": [{"type": "Markdown", "id": "m", "value": "He"}]}]});
        assert!(append_text(&mut root, "m", "llo", false));
        assert_eq!(root["children"][0]["children"][0]["value"], "Hello");
        assert_eq!(root["children"][0]["children"][0]["streaming"], true);
        assert!(replace_component(
            &mut root,
            "m",
            json!({"type": "Text", "id": "m", "value": "Done"})
        ));
        assert_eq!(root["children"][0]["children"][0]["type"], "Text");
        assert!(!append_text(&mut root, "nope", "x", true));
    }
}
