//! Widgets (docs/protocol.md §3.1): typed builders for the common components, the JSON checks a
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

mod builders;
mod edit;
mod validate;

pub use builders::*;
pub use edit::{append_text, find_component_mut, replace_component};
pub use validate::{looks_like_widget, validate_widget, WidgetError, ROOT_TYPES};

#[cfg(test)]
mod tests;
