//! The Chat Completions API (`POST {base}/chat/completions`): request body and stream chunks.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{json, Value};

use super::{
    InputItem, InputPart, ModelError, ModelEvent, ModelRequest, Role, ToolCall, ToolChoice, Usage,
};

/// The request body: the instructions as the first `system` message; consecutive function
/// calls become one assistant message with `tool_calls`, each output a `tool` message.
pub(crate) fn body(request: &ModelRequest, stream: bool) -> Value {
    let mut messages = vec![json!({"role": "system", "content": request.instructions})];
    for item in &request.input {
        match item {
            InputItem::Message { role, text } => {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Developer => "system",
                };
                messages.push(json!({"role": role, "content": text}));
            }
            InputItem::UserParts(parts) => {
                // Chat Completions takes text and images; a file is named, never dropped
                let content: Vec<Value> = parts
                    .iter()
                    .map(|part| match part {
                        InputPart::Text(text) => json!({"type": "text", "text": text}),
                        InputPart::Image { url } => json!({"type": "image_url", "image_url": {"url": url}}),
                        InputPart::File { filename, .. } => json!({"type": "text",
                            "text": format!("[attached file `{filename}`: this model API cannot read files]")}),
                    })
                    .collect();
                messages.push(json!({"role": "user", "content": content}));
            }
            InputItem::FunctionCall { call_id, name, arguments } => {
                let call = json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}});
                let last = messages
                    .last_mut()
                    .filter(|m| m["role"] == "assistant" && m["tool_calls"].is_array());
                match last {
                    Some(message) => {
                        message["tool_calls"].as_array_mut().expect("checked").push(call);
                    }
                    None => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            InputItem::FunctionCallOutput { call_id, output } => {
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
        }
    }
    let mut body = json!({"model": request.model, "messages": messages, "stream": stream});
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
        match &request.tool_choice {
            Some(ToolChoice::Required) => body["tool_choice"] = json!("required"),
            Some(ToolChoice::Function(name)) => {
                body["tool_choice"] = json!({"type": "function", "function": {"name": name}});
            }
            None => {}
        }
    }
    body
}

/// The text of a non-streamed completion.
pub(crate) fn output_text(value: &Value) -> Option<String> {
    value.pointer("/choices/0/message/content").and_then(Value::as_str).map(str::to_string)
}

/// Stream state: tool calls assembled by index, refusal text, usage, finish reason.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    calls: BTreeMap<u64, ToolCall>,
    refusal: String,
    usage: Option<Usage>,
    finished: bool,
}

impl Parser {
    pub(crate) fn event(
        &mut self,
        data: &str,
        out: &mut VecDeque<ModelEvent>,
    ) -> Result<bool, ModelError> {
        if data.trim() == "[DONE]" {
            self.flush(out);
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ModelError::Invalid(format!("bad stream chunk: {e}")))?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .or(error.as_str())
                .unwrap_or("error chunk");
            return Err(ModelError::Provider(message.to_string()));
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(Usage {
                input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
                output_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
            });
        }
        let Some(choice) = chunk.pointer("/choices/0") else { return Ok(false) };
        let delta = &choice["delta"];
        if let Some(text) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.push_back(ModelEvent::TextDelta(text.to_string()));
        }
        if let Some(text) = delta.get("refusal").and_then(Value::as_str) {
            self.refusal.push_str(text);
        }
        for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let entry = self.calls.entry(index).or_insert_with(|| ToolCall {
                call_id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                entry.call_id = id.to_string();
            }
            if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                entry.name.push_str(name);
            }
            if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                entry.arguments.push_str(args);
            }
        }
        if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
            self.finished = true;
        }
        Ok(false)
    }

    /// Emits the assembled calls, the refusal and `Completed`, once.
    fn flush(&mut self, out: &mut VecDeque<ModelEvent>) {
        for (index, mut call) in std::mem::take(&mut self.calls) {
            if call.call_id.is_empty() {
                call.call_id = format!("call_{index}");
            }
            out.push_back(ModelEvent::ToolCall(call));
        }
        if !self.refusal.is_empty() {
            out.push_back(ModelEvent::Refusal(std::mem::take(&mut self.refusal)));
        }
        out.push_back(ModelEvent::Completed { usage: self.usage });
    }

    /// A body ending without `[DONE]` is accepted only after a `finish_reason`.
    pub(crate) fn end(&mut self, out: &mut VecDeque<ModelEvent>) -> Result<(), ModelError> {
        if !self.finished {
            return Err(ModelError::Cut("the stream ended before a finish_reason".into()));
        }
        self.flush(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_tool_calls_by_index() {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        for chunk in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"look","arguments":"{\"q\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6}}"#,
        ] {
            assert!(!p.event(chunk, &mut out).unwrap());
        }
        assert!(p.event("[DONE]", &mut out).unwrap());
        let out: Vec<_> = out.into_iter().collect();
        assert_eq!(out[0], ModelEvent::TextDelta("Hi".into()));
        assert_eq!(
            out[1],
            ModelEvent::ToolCall(ToolCall {
                call_id: "call_a".into(),
                name: "look".into(),
                arguments: r#"{"q":1}"#.into()
            })
        );
        assert_eq!(
            out[2],
            ModelEvent::Completed { usage: Some(Usage { input_tokens: 5, output_tokens: 6 }) }
        );
        assert!(Parser::default().end(&mut VecDeque::new()).is_err());
    }

    #[test]
    fn groups_function_calls() {
        let request = ModelRequest {
            model: "m".into(),
            instructions: "be nice".into(),
            input: vec![
                InputItem::FunctionCall {
                    call_id: "a".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                },
                InputItem::FunctionCall {
                    call_id: "b".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                },
                InputItem::FunctionCallOutput { call_id: "a".into(), output: "1".into() },
            ],
            tools: vec![],
            tool_choice: None,
        };
        let body = body(&request, true);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(messages[2]["role"], "tool");
    }
}
