//! One small handler per operation.

pub(crate) mod actions;
pub(crate) mod attachments;
pub(crate) mod items;
pub(crate) mod pipeline;
pub(crate) mod threads;
pub(crate) mod transcribe;
pub(crate) mod turns;

use chatkit_protocol::{Page, ThreadItem};

/// Removes hidden items after paging (the page may then be shorter than the limit).
pub(crate) fn without_hidden(mut page: Page<ThreadItem>) -> Page<ThreadItem> {
    page.data.retain(|item| !item.is_hidden());
    page
}
