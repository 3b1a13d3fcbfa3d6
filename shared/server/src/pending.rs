//! Items added but not yet done, rebuilt from their updates: what is saved when the client
//! cancels mid-stream (docs/protocol.md §4.5).

use chatkit_protocol::{AssistantMessageContent, ThreadItem, ThreadItemUpdate};

/// Pending items in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct PendingItems {
    items: Vec<ThreadItem>,
}

impl PendingItems {
    pub fn added(&mut self, item: &ThreadItem) {
        self.remove(item.id());
        self.items.push(item.clone());
    }

    pub fn remove(&mut self, id: &str) {
        self.items.retain(|i| i.id() != id);
    }

    pub fn into_items(self) -> Vec<ThreadItem> {
        self.items
    }

    /// Applies an update to the pending copy (assistant messages and workflows only).
    pub fn apply(&mut self, item_id: &str, update: &ThreadItemUpdate) {
        let Some(item) = self.items.iter_mut().find(|i| i.id() == item_id) else { return };
        match (item, update) {
            (ThreadItem::AssistantMessage(msg), update) => {
                apply_to_message(&mut msg.content, update);
            }
            (ThreadItem::Workflow(wf), ThreadItemUpdate::TaskAdded { task, .. }) => {
                wf.workflow.tasks.push(task.clone());
            }
            (ThreadItem::Workflow(wf), ThreadItemUpdate::TaskUpdated { task_index, task }) => {
                if let Some(slot) = wf.workflow.tasks.get_mut(*task_index) {
                    *slot = task.clone();
                }
            }
            _ => {}
        }
    }
}

fn part(content: &mut Vec<AssistantMessageContent>, index: usize) -> &mut AssistantMessageContent {
    if content.len() <= index {
        content.resize_with(index + 1, AssistantMessageContent::default);
    }
    &mut content[index]
}

fn apply_to_message(content: &mut Vec<AssistantMessageContent>, update: &ThreadItemUpdate) {
    match update {
        ThreadItemUpdate::ContentPartAdded { content_index, content: c }
        | ThreadItemUpdate::ContentPartDone { content_index, content: c } => {
            *part(content, *content_index) = c.clone();
        }
        ThreadItemUpdate::TextDelta { content_index, delta } => {
            part(content, *content_index).text.push_str(delta);
        }
        ThreadItemUpdate::AnnotationAdded { content_index, annotation_index, annotation } => {
            let annotations = &mut part(content, *content_index).annotations;
            let at = (*annotation_index).min(annotations.len());
            annotations.insert(at, annotation.clone());
        }
        _ => {}
    }
}
