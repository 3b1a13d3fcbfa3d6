//! Typed builders for the common widget components and roots.

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

/// A built-in icon (docs/protocol.md §3.2 `IconName`).
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
