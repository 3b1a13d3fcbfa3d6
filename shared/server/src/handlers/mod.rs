//! One small handler per operation.

pub(crate) mod actions;
pub(crate) mod attachments;
pub(crate) mod items;
pub(crate) mod pipeline;
pub(crate) mod threads;
pub(crate) mod transcribe;
pub(crate) mod turns;

use chatkit_protocol::{Page, ThreadItem};
use serde::Serialize;
use serde_json::Value;

use crate::error::ChatKitError;

pub(crate) fn to_json(value: &impl Serialize) -> Result<Value, ChatKitError> {
    serde_json::to_value(value)
        .map_err(|e| ChatKitError::Internal(format!("could not encode the response: {e}")))
}

pub(crate) fn empty() -> Value {
    Value::Object(Default::default())
}

/// Removes hidden items after paging (the page may then be shorter than the limit).
pub(crate) fn without_hidden(mut page: Page<ThreadItem>) -> Page<ThreadItem> {
    page.data.retain(|item| !item.is_hidden());
    page
}
