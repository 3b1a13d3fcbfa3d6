//! Bounded model input: what one user can make the model read, and so what a turn can cost.
//!
//! - A user message's text (and its quoted text) is trimmed to the message budget.
//! - Every tool result (client tools, the retrieval tool, MCP tools, any server tool) is
//!   trimmed to the tool-output budget.
//! - Each model request as a whole (instructions, tool definitions, input) is fitted to the
//!   model-input budget before it is sent, in every tool round: older history goes first,
//!   then this turn's tool results shrink (oldest first), then the newest message itself.
//!
//! Whatever is trimmed says so in the text the model reads ([`TRIM_NOTE`]), so the model
//! knows it has a part and does not invent the rest. Sizes are estimated tokens: bytes / 4.

use chatkit_settings::catalog::{
    MESSAGE_TOKEN_BUDGET, MODEL_INPUT_TOKEN_BUDGET, TOOL_OUTPUT_TOKEN_BUDGET,
};
use chatkit_settings::{Lookup, SettingError};
use serde_json::Value;

use chatkit_server::StreamError;
use tracing::{info, warn};

use crate::client::{InputItem, InputPart, ModelRequest, Role};

/// Estimated tokens: characters / 4, plus a little per item.
pub fn estimate_tokens(items: &[InputItem]) -> usize {
    items.iter().map(|i| i.chars() / 4 + 4).sum()
}

/// How much of each kind of input reaches the model, in estimated tokens (bytes / 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputBudgets {
    /// `CHATKIT_MESSAGE_TOKEN_BUDGET` (4000): one user message's text, and its quoted text.
    pub message_tokens: usize,
    /// `CHATKIT_TOOL_OUTPUT_TOKEN_BUDGET` (4000): one tool result.
    pub tool_output_tokens: usize,
    /// `CHATKIT_MODEL_INPUT_TOKEN_BUDGET` (32000): one model request as a whole.
    pub model_input_tokens: usize,
}

impl Default for InputBudgets {
    /// The declared defaults.
    fn default() -> Self {
        Self::from_lookup(&chatkit_settings::defaults).expect("the declared defaults parse")
    }
}

impl InputBudgets {
    /// `CHATKIT_MESSAGE_TOKEN_BUDGET`, `CHATKIT_TOOL_OUTPUT_TOKEN_BUDGET` and
    /// `CHATKIT_MODEL_INPUT_TOKEN_BUDGET`.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        Ok(Self {
            message_tokens: MESSAGE_TOKEN_BUDGET.number(get)?,
            tool_output_tokens: TOOL_OUTPUT_TOKEN_BUDGET.number(get)?,
            model_input_tokens: MODEL_INPUT_TOKEN_BUDGET.number(get)?,
        })
    }

    pub fn message_bytes(&self) -> usize {
        self.message_tokens.saturating_mul(4)
    }

    pub fn tool_output_bytes(&self) -> usize {
        self.tool_output_tokens.saturating_mul(4)
    }
}

/// Starts the note that ends a trimmed text.
pub const TRIM_NOTE: &str = "[trimmed to fit the model input budget:";

/// Never trim below this many bytes (a trimmed text keeps at least its note and a start).
const MIN_KEPT: usize = 64;

fn note(omitted: usize, total: usize) -> String {
    format!("\n{TRIM_NOTE} {omitted} of {total} bytes left out]")
}

/// `text` cut to at most `max` bytes in all, at a character boundary, ending with a note of
/// how much was left out. Unchanged when it fits.
pub fn trim_marked(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let total = text.len();
    // the note's own length depends on the numbers in it: size it for the worst case
    let room = max.saturating_sub(note(total, total).len()).max(MIN_KEPT.min(max));
    let mut end = room.min(total);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &text[..end], note(total - end, total))
}

/// Whether a text was trimmed by [`trim_marked`].
pub fn is_trimmed(text: &str) -> bool {
    text.contains(TRIM_NOTE)
}

/// A request that cannot be made to fit: the fixed part alone (instructions and tool
/// definitions) is over the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub fixed_tokens: usize,
    pub budget: usize,
}

/// What [`fit`] had to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fitted {
    pub dropped_items: usize,
    pub trimmed_items: usize,
    pub tokens: usize,
}

/// Estimated tokens of the parts of a request that are not input: instructions and tools.
pub fn fixed_tokens(instructions: &str, tools: &[crate::client::ToolSpec]) -> usize {
    let tools: usize = tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + value_len(&t.parameters) + 16)
        .sum();
    (instructions.len() + tools) / 4 + 8
}

fn value_len(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(value_len).sum::<usize>() + 2,
        Value::Object(o) => o.iter().map(|(k, v)| k.len() + 3 + value_len(v)).sum::<usize>() + 2,
        other => other.to_string().len(),
    }
}

/// Fits `request` to `budget` estimated tokens. `turn_start` is the index in the input where
/// this turn begins (its user message, or where a resumed turn's newest user message sits):
/// items before it are history and go first, oldest first, a function call always together
/// with its output. Then the turn's tool results shrink, oldest first; then the turn's
/// messages. Returns what was done, or [`TooLarge`].
pub fn fit(
    request: &mut ModelRequest,
    budget: usize,
    turn_start: usize,
) -> Result<Fitted, TooLarge> {
    let fixed = fixed_tokens(&request.instructions, &request.tools);
    if fixed >= budget {
        return Err(TooLarge { fixed_tokens: fixed, budget });
    }
    let room = budget - fixed;
    let input = &mut request.input;
    let mut fitted = Fitted::default();
    let mut total = estimate_tokens(input);
    // 1. history, oldest first
    let turn_start = turn_start.min(input.len());
    let mut drop_until = 0;
    while total > room && drop_until < turn_start {
        let group = group_len(input, drop_until).min(turn_start - drop_until).max(1);
        total -= estimate_tokens(&input[drop_until..drop_until + group]);
        drop_until += group;
    }
    if drop_until > 0 {
        input.drain(..drop_until);
        fitted.dropped_items = drop_until;
    }
    // 2. this turn's tool results, oldest first; 3. its messages, oldest first
    for pass in [Pass::ToolOutputs, Pass::Messages] {
        let mut i = 0;
        while total > room && i < input.len() {
            let over = (total - room).saturating_mul(4);
            if let Some(text) = pass.text_of(&mut input[i]) {
                let keep = text.len().saturating_sub(over);
                if keep < text.len() {
                    let before = text.len();
                    *text = trim_marked(text, keep);
                    if text.len() < before {
                        total = total - before / 4 + text.len() / 4;
                        fitted.trimmed_items += 1;
                    }
                }
            }
            i += 1;
        }
    }
    fitted.tokens = fixed + total;
    if total > room {
        return Err(TooLarge { fixed_tokens: fixed + total, budget });
    }
    Ok(fitted)
}

#[derive(Clone, Copy)]
enum Pass {
    ToolOutputs,
    Messages,
}

impl Pass {
    fn text_of(self, item: &mut InputItem) -> Option<&mut String> {
        match (self, item) {
            (Pass::ToolOutputs, InputItem::FunctionCallOutput { output, .. }) => Some(output),
            (Pass::Messages, InputItem::Message { role: Role::User | Role::Assistant, text }) => {
                Some(text)
            }
            (Pass::Messages, InputItem::UserParts(parts)) => {
                parts.iter_mut().find_map(|p| match p {
                    InputPart::Text(text) => Some(text),
                    _ => None,
                })
            }
            _ => None,
        }
    }
}

/// How many items starting at `i` belong together: a run of function calls and their outputs
/// is dropped whole, so no output is ever left without its call or the other way round.
fn group_len(input: &[InputItem], i: usize) -> usize {
    let is_call = |item: &InputItem| {
        matches!(item, InputItem::FunctionCall { .. } | InputItem::FunctionCallOutput { .. })
    };
    if is_call(&input[i]) {
        input[i..].iter().take_while(|item| is_call(item)).count()
    } else {
        1
    }
}

/// Fits a request to the model-input budget (see [`fit`]); a request whose
/// instructions and tool definitions alone are over it cannot be sent.
/// Returns the request's estimated input tokens.
pub(crate) fn fit_to_budget(
    request: &mut ModelRequest,
    tokens: usize,
    turn_start: usize,
    request_id: &str,
) -> Result<u64, StreamError> {
    match fit(request, tokens, turn_start) {
        Ok(fitted) => {
            if fitted.dropped_items > 0 || fitted.trimmed_items > 0 {
                info!(
                    request_id,
                    dropped = fitted.dropped_items,
                    trimmed = fitted.trimmed_items,
                    tokens = fitted.tokens,
                    "model input fitted to its budget"
                );
            }
            Ok(fitted.tokens as u64)
        }
        Err(too_large) => {
            warn!(request_id, fixed_tokens = too_large.fixed_tokens, budget = too_large.budget,
                hint = "raise CHATKIT_MODEL_INPUT_TOKEN_BUDGET or shorten the system prompt / tool definitions", "the model input cannot fit its budget");
            let attachments = request.input.iter().any(|item| {
                matches!(item, InputItem::UserParts(parts)
                    if parts.iter().any(|p| !matches!(p, InputPart::Text(_))))
            });
            Err(StreamError::custom(
                if attachments {
                    "This message and its attachments are too large for the assistant: try fewer or smaller files."
                } else {
                    "This request is too large for the assistant."
                },
                false,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ToolSpec;

    fn request(input: Vec<InputItem>) -> ModelRequest {
        ModelRequest {
            model: "m".into(),
            instructions: "be brief".into(),
            input,
            tools: vec![],
            tool_choice: None,
        }
    }

    #[test]
    fn trimming_is_marked_and_bounded() {
        assert_eq!(trim_marked("short", 100), "short");
        let long = "é".repeat(5000); // 10000 bytes, 2 per char
        let cut = trim_marked(&long, 1000);
        assert!(cut.len() <= 1000, "{}", cut.len());
        assert!(is_trimmed(&cut) && cut.ends_with("bytes left out]"), "{cut}");
        assert!(cut.contains("of 10000 bytes"));
        assert!(!is_trimmed(&long));
    }

    #[test]
    fn history_goes_first_and_calls_keep_their_outputs() {
        let big = "h".repeat(4000);
        let mut r = request(vec![
            InputItem::message(Role::User, big.clone()),
            InputItem::FunctionCall {
                call_id: "a".into(),
                name: "f".into(),
                arguments: "{}".into(),
            },
            InputItem::FunctionCallOutput { call_id: "a".into(), output: big.clone() },
            InputItem::message(Role::Assistant, big.clone()),
            InputItem::message(Role::User, "the question"),
        ]);
        let fitted = fit(&mut r, 1200, 4).unwrap();
        assert_eq!(fitted.dropped_items, 3, "the message, then the call with its output");
        assert!(matches!(&r.input[0], InputItem::Message { role: Role::Assistant, .. }));
        assert!(fitted.tokens <= 1200);
        assert_eq!(fitted.trimmed_items, 0);
    }

    #[test]
    fn then_this_turns_tool_results_then_its_messages_shrink() {
        let mut r = request(vec![
            InputItem::message(Role::User, "q".repeat(2000)),
            InputItem::FunctionCall {
                call_id: "a".into(),
                name: "search".into(),
                arguments: "{}".into(),
            },
            InputItem::FunctionCallOutput { call_id: "a".into(), output: "r".repeat(20_000) },
        ]);
        let fitted = fit(&mut r, 1500, 0).unwrap();
        assert_eq!(fitted.dropped_items, 0, "nothing of this turn is dropped");
        let InputItem::FunctionCallOutput { output, .. } = &r.input[2] else { panic!() };
        assert!(is_trimmed(output) && output.len() < 20_000);
        assert!(
            matches!(&r.input[0], InputItem::Message { text, .. } if text.len() == 2000),
            "the question stays whole"
        );
        assert!(fitted.tokens <= 1500, "{fitted:?}");

        let mut tiny = request(vec![InputItem::message(Role::User, "q".repeat(40_000))]);
        let fitted = fit(&mut tiny, 600, 0).unwrap();
        assert!(matches!(&tiny.input[0], InputItem::Message { text, .. } if is_trimmed(text)));
        assert!(fitted.tokens <= 600, "{fitted:?}");
    }

    #[test]
    fn instructions_and_tools_over_the_budget_are_too_large() {
        let mut r = request(vec![InputItem::message(Role::User, "hi")]);
        r.tools = vec![ToolSpec {
            name: "t".into(),
            description: "d".repeat(4000),
            parameters: serde_json::json!({}),
        }];
        assert!(fit(&mut r, 500, 0).is_err());
    }
}
