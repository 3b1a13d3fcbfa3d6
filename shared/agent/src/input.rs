//! Thread history → model input (docs/protocol.md §5.1), trimmed to a token budget.

use chatkit_protocol::{
    Attachment, StructuredInput, StructuredInputStatus, Task, ThreadItem, ToolCallStatus,
    UserMessageContent, UserMessageItem, WorkflowType,
};
use serde_json::Value;

use crate::attachments::{AttachmentInput, AttachmentInputs};
pub use crate::budget::estimate_tokens;
use crate::budget::{trim_marked, InputBudgets};
use crate::client::{InputItem, InputPart, Role};
use crate::context::escape_delimiters;
pub use crate::text::bounded;
use crate::workflow::ToolCallRecord;

/// Longest widget / hidden-context JSON kept in the input.
const MAX_BLOB: usize = 4000;

/// Converts the history in order, then drops the oldest items while over `budget`. Items
/// from the newest user message on are always kept. Each thread item converts to a group
/// that is kept or dropped whole (a function call never loses its output). Messages and tool
/// results are trimmed to the default [`InputBudgets`].
pub fn build_input(history: &[ThreadItem], budget: usize) -> Vec<InputItem> {
    build_input_with(history, budget, &AttachmentInputs::new())
}

/// [`build_input`] with the attachments' content ([`crate::attachments::resolve`]);
/// attachments missing from `attachments` are named only.
pub fn build_input_with(
    history: &[ThreadItem],
    budget: usize,
    attachments: &AttachmentInputs,
) -> Vec<InputItem> {
    build_bounded_input(history, budget, &InputBudgets::default(), attachments).0
}

/// [`build_input_with`] with explicit budgets for user messages and tool results; also
/// returns where this turn starts in the input (the newest user message's first item), which
/// [`crate::budget::fit`] keeps while it drops history.
pub fn build_bounded_input(
    history: &[ThreadItem],
    budget: usize,
    budgets: &InputBudgets,
    attachments: &AttachmentInputs,
) -> (Vec<InputItem>, usize) {
    let last = history.len().saturating_sub(1);
    // workflows that showed stored server tool calls: the calls themselves are replayed
    let shown: Vec<&str> = history
        .iter()
        .filter_map(|item| match item {
            ThreadItem::HiddenContextItem(h) => {
                ToolCallRecord::from_content(&h.content)?.workflow_id
            }
            _ => None,
        })
        .filter_map(|id| history.iter().find(|i| i.id() == id).map(ThreadItem::id))
        .collect();
    let groups: Vec<Vec<InputItem>> = history
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if shown.contains(&item.id()) {
                vec![]
            } else {
                convert(item, i == last, budgets, attachments)
            }
        })
        .collect();
    let keep_from =
        history.iter().rposition(|i| matches!(i, ThreadItem::UserMessage(_))).unwrap_or(last);
    let mut total: usize = groups.iter().map(|g| estimate_tokens(g)).sum();
    let mut start = 0;
    while start < keep_from && total > budget {
        total -= estimate_tokens(&groups[start]);
        start += 1;
    }
    if start > 0 {
        tracing::debug!(dropped = start, "history trimmed to the token budget");
    }
    let turn_start =
        groups[start..keep_from.max(start).min(groups.len())].iter().map(Vec::len).sum();
    (groups.into_iter().skip(start).flatten().collect(), turn_start)
}

fn user(text: impl Into<String>) -> InputItem {
    InputItem::message(Role::User, text)
}

fn convert(
    item: &ThreadItem,
    is_last: bool,
    budgets: &InputBudgets,
    attachments: &AttachmentInputs,
) -> Vec<InputItem> {
    match item {
        ThreadItem::UserMessage(m) => user_message(m, is_last, budgets, attachments),
        ThreadItem::AssistantMessage(m) => {
            let text: Vec<&str> = m.content.iter().map(|c| c.text.as_str()).collect();
            vec![InputItem::message(Role::Assistant, text.join("\n\n"))]
        }
        ThreadItem::ClientToolCall(c) if c.status == ToolCallStatus::Completed => {
            let output = c.output.as_ref().map_or_else(|| "null".into(), json_string);
            let output = trim_marked(&output, budgets.tool_output_bytes());
            vec![
                InputItem::FunctionCall {
                    call_id: c.call_id.clone(),
                    name: c.name.clone(),
                    arguments: Value::Object(c.arguments.clone()).to_string(),
                },
                InputItem::FunctionCallOutput { call_id: c.call_id.clone(), output },
            ]
        }
        ThreadItem::ClientToolCall(_) | ThreadItem::EndOfTurn(_) => vec![],
        ThreadItem::Widget(w) => {
            let shown = match &w.copy_text {
                Some(text) => text.clone(),
                None => bounded(&w.widget.to_string(), MAX_BLOB),
            };
            vec![user(format!(
                "The following graphical UI widget (id: {}) was displayed to the user:\n{shown}",
                w.id
            ))]
        }
        ThreadItem::GeneratedImage(g) => match &g.image {
            Some(image) => {
                vec![user(format!("The following image was generated by the agent: {}", image.url))]
            }
            None => vec![],
        },
        ThreadItem::StructuredInput(s) => vec![user(structured_input(&s.status, &s.inputs))],
        ThreadItem::Workflow(w) if w.workflow.kind == WorkflowType::Custom => {
            w.workflow.tasks.iter().filter_map(task).map(user).collect()
        }
        ThreadItem::Workflow(_) => vec![],
        ThreadItem::Task(t) => task(&t.task).map(user).into_iter().collect(),
        ThreadItem::HiddenContextItem(h) => match ToolCallRecord::from_content(&h.content) {
            Some(call) => vec![
                InputItem::FunctionCall {
                    call_id: call.call_id.clone(),
                    name: call.name,
                    arguments: call.arguments,
                },
                InputItem::FunctionCallOutput {
                    call_id: call.call_id,
                    output: trim_marked(&call.output, budgets.tool_output_bytes()),
                },
            ],
            None => vec![hidden(&json_string(&h.content))],
        },
        ThreadItem::SdkHiddenContext(h) => vec![hidden(&h.content)],
    }
}

/// Strings as they are, anything else as compact JSON.
fn json_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn hidden(content: &str) -> InputItem {
    let content = bounded(content, MAX_BLOB);
    InputItem::message(
        Role::Developer,
        format!("Hidden context for the agent (not shown to the user):\n<HiddenContext>\n{content}\n</HiddenContext>"),
    )
}

/// The text with tags as `@name`, then each attachment as the model can take it
/// ([`attachment_parts`]); for the newest message also the quoted text; for every message
/// with @-mentions, what they refer to (docs/protocol.md §5.1: one block, tags deduplicated by
/// their text).
fn user_message(
    m: &UserMessageItem,
    is_last: bool,
    budgets: &InputBudgets,
    attachments: &AttachmentInputs,
) -> Vec<InputItem> {
    let mut text = String::new();
    for part in &m.content {
        match part {
            UserMessageContent::InputText { text: t } => text.push_str(t),
            UserMessageContent::InputTag { text: t, .. } => {
                text.push('@');
                text.push_str(t);
            }
        }
    }
    let text = trim_marked(&text, budgets.message_bytes());
    let mut items = if m.attachments.is_empty() {
        vec![user(text)]
    } else {
        let mut parts = vec![InputPart::Text(text)];
        for attachment in &m.attachments {
            parts.extend(attachment_parts(attachment, attachments.get(attachment.id())));
        }
        vec![InputItem::UserParts(parts)]
    };
    if is_last {
        if let Some(quoted) = m.quoted_text.as_deref().filter(|q| !q.trim().is_empty()) {
            let quoted = trim_marked(quoted, budgets.message_bytes().min(MAX_BLOB));
            items.push(user(format!("The user is referring to this in particular: \n{quoted}")));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for part in &m.content {
        if let UserMessageContent::InputTag { text, data, .. } = part {
            if seen.contains(&text.as_str()) {
                continue;
            }
            seen.push(text);
            tags.push(format!(
                "- @{text}: {}",
                bounded(&Value::Object(data.clone()).to_string(), 500)
            ));
        }
    }
    if !tags.is_empty() {
        items.push(user(format!("{TAGS_HEADER}\n{}", tags.join("\n"))));
    }
    items
}

/// The reference converter's preamble for @-mention context.
pub const TAGS_HEADER: &str = "# User-provided context for @-mentions\n- When referencing resolved entities, use their canonical \
    names **without** '@'.\n- The '@' form appears only in user text and should not be echoed.";

/// A file name as shown to the model: one line, no backticks or quotes, its angle brackets
/// escaped as the context block's are, bounded.
fn display_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            '`' | '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    escape_delimiters(&bounded(clean.trim(), 200))
}

/// An attachment as model input parts; named whenever its content cannot be sent.
fn attachment_parts(attachment: &Attachment, resolved: Option<&AttachmentInput>) -> Vec<InputPart> {
    let name = display_name(attachment.name());
    let mime = attachment.mime_type();
    match resolved {
        Some(AttachmentInput::Image { url }) => {
            vec![
                InputPart::Text(format!("[attached image `{name}`]")),
                InputPart::Image { url: url.clone() },
            ]
        }
        Some(AttachmentInput::File { url, tokens }) => vec![
            InputPart::Text(format!("[attached file `{name}` ({mime})]")),
            InputPart::File { filename: name.clone(), url: url.clone(), tokens: *tokens },
        ],
        Some(AttachmentInput::Text { text, total_size }) => {
            let note = match total_size {
                Some(total) => format!(", only its first {} of {total} bytes", text.len()),
                None => String::new(),
            };
            // the file is the user's data, never instructions; its text cannot close the
            // block (escaped as the context block's values are)
            let text = escape_delimiters(text);
            vec![InputPart::Text(format!(
                "[attached file `{name}` ({mime}){note}; its content follows]\n<attachment name=\"{name}\">\n{text}\n</attachment>"
            ))]
        }
        Some(AttachmentInput::Unreadable { reason }) => {
            vec![InputPart::Text(format!(
                "[attached file `{name}` ({mime}): the assistant could not read it: {reason}]"
            ))]
        }
        None => vec![InputPart::Text(format!(
            "[attached file `{name}` ({mime}), sent earlier; its content is not included]"
        ))],
    }
}

fn task(task: &Task) -> Option<String> {
    let Task::Custom { title, content, .. } = task else { return None };
    let body = match (title, content) {
        (Some(t), Some(c)) => format!("{t}: {c}"),
        (Some(t), None) => t.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => return None,
    };
    Some(format!("A message was displayed to the user that the following task was performed:\n<Task>\n{body}\n</Task>"))
}

fn structured_input(status: &StructuredInputStatus, inputs: &[StructuredInput]) -> String {
    let status = match status {
        StructuredInputStatus::Pending => "pending",
        StructuredInputStatus::Answered => "answered",
        StructuredInputStatus::Skipped => "skipped",
    };
    let mut lines = Vec::new();
    for input in inputs {
        let (question, answer) = match input {
            StructuredInput::MultipleChoice { question, answer, .. }
            | StructuredInput::Freeform { question, answer, .. } => (question, answer),
        };
        let shown = match answer {
            None => "unanswered".to_string(),
            Some(a) if a.skipped || a.values.is_empty() => "skipped".to_string(),
            Some(a) => a.values.join(", "),
        };
        lines.push(format!("- {question}: {shown}"));
    }
    format!(
        "A structured input request was displayed to the user with the following status: {status}\n<StructuredInput>\n{}\n</StructuredInput>",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests;
