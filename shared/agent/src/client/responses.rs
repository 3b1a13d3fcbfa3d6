//! The Responses API (`POST {base}/responses`): request body and stream events.

use std::collections::VecDeque;

use chatkit_protocol::{Annotation, Source};
use serde_json::{json, Value};

use super::{
    InputItem, InputPart, ModelError, ModelEvent, ModelRequest, Role, ToolCall, ToolChoice, Usage,
};

/// The request body. `store: false`: the full input is sent every turn, nothing is kept at
/// the provider.
pub(crate) fn body(request: &ModelRequest, stream: bool) -> Value {
    let input: Vec<Value> = request.input.iter().map(input_item).collect();
    let mut body = json!({
        "model": request.model,
        "instructions": request.instructions,
        "input": input,
        "stream": stream,
        "store": false,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
        match &request.tool_choice {
            Some(ToolChoice::Required) => body["tool_choice"] = json!("required"),
            Some(ToolChoice::Function(name)) => {
                body["tool_choice"] = json!({"type": "function", "name": name});
            }
            None => {}
        }
    }
    body
}

fn input_item(item: &InputItem) -> Value {
    match item {
        InputItem::Message { role, text } => {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Developer => "developer",
            };
            json!({"type": "message", "role": role, "content": text})
        }
        InputItem::UserParts(parts) => {
            let content: Vec<Value> = parts
                .iter()
                .map(|part| match part {
                    InputPart::Text(text) => json!({"type": "input_text", "text": text}),
                    InputPart::Image { url } => {
                        json!({"type": "input_image", "image_url": url, "detail": "auto"})
                    }
                    InputPart::File { filename, url, .. } if url.starts_with("data:") => {
                        json!({"type": "input_file", "filename": filename, "file_data": url})
                    }
                    InputPart::File { url, .. } => json!({"type": "input_file", "file_url": url}),
                })
                .collect();
            json!({"type": "message", "role": "user", "content": content})
        }
        InputItem::FunctionCall { call_id, name, arguments } => {
            json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
        }
        InputItem::FunctionCallOutput { call_id, output } => {
            json!({"type": "function_call_output", "call_id": call_id, "output": output})
        }
    }
}

/// The text of a non-streamed response.
pub(crate) fn output_text(value: &Value) -> Option<String> {
    if let Some(text) = value.get("output_text").and_then(Value::as_str) {
        return Some(text.to_string());
    }
    let text: String = value
        .get("output")?
        .as_array()?
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter(|part| part["type"] == "output_text")
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .collect();
    (!text.is_empty()).then_some(text)
}

/// Stream state: only whether `response.completed` arrived.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    completed: bool,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Parser {
    pub(crate) fn event(
        &mut self,
        name: &str,
        data: &str,
        out: &mut VecDeque<ModelEvent>,
    ) -> Result<bool, ModelError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| ModelError::Invalid(format!("bad stream event: {e}")))?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(name);
        match kind {
            "response.output_text.delta" => {
                let delta = str_of(&value, "delta");
                if !delta.is_empty() {
                    out.push_back(ModelEvent::TextDelta(delta.to_string()));
                }
            }
            "response.output_text.annotation.added" => {
                if let Some(annotation) = annotation(&value["annotation"]) {
                    out.push_back(ModelEvent::Annotation(annotation));
                }
            }
            "response.output_item.done" if value["item"]["type"] == "function_call" => {
                let item = &value["item"];
                out.push_back(ModelEvent::ToolCall(ToolCall {
                    call_id: str_of(item, "call_id").to_string(),
                    name: str_of(item, "name").to_string(),
                    arguments: str_of(item, "arguments").to_string(),
                }));
            }
            "response.refusal.done" => {
                out.push_back(ModelEvent::Refusal(str_of(&value, "refusal").to_string()));
            }
            "response.completed" | "response.incomplete" => {
                if kind == "response.incomplete" {
                    let reason = value
                        .pointer("/response/incomplete_details/reason")
                        .and_then(Value::as_str);
                    tracing::warn!(reason, "the model's response is incomplete");
                }
                let usage = value.pointer("/response/usage").map(|u| Usage {
                    input_tokens: u["input_tokens"].as_u64().unwrap_or(0),
                    output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
                });
                out.push_back(ModelEvent::Completed { usage });
                self.completed = true;
                return Ok(true);
            }
            "response.failed" => {
                let message = value
                    .pointer("/response/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("response.failed");
                return Err(ModelError::Provider(message.to_string()));
            }
            "error" => {
                let message = value
                    .get("message")
                    .or_else(|| value.pointer("/error/message"))
                    .and_then(Value::as_str);
                return Err(ModelError::Provider(message.unwrap_or("error event").to_string()));
            }
            _ => {}
        }
        Ok(false)
    }

    pub(crate) fn end(&self) -> Result<(), ModelError> {
        if self.completed {
            Ok(())
        } else {
            Err(ModelError::Cut("the stream ended before `response.completed`".into()))
        }
    }
}

/// `url_citation` → URL source at `end_index`; `file_citation` → file source. Others dropped.
fn annotation(value: &Value) -> Option<Annotation> {
    let source = match value.get("type").and_then(Value::as_str)? {
        "url_citation" => {
            let url = str_of(value, "url");
            let title =
                value.get("title").and_then(Value::as_str).filter(|t| !t.is_empty()).unwrap_or(url);
            Source::url(title, url)
        }
        "file_citation" => {
            let filename =
                value.get("filename").and_then(Value::as_str).filter(|f| !f.is_empty())?;
            Source::File {
                title: filename.into(),
                description: None,
                timestamp: None,
                group: None,
                filename: filename.into(),
            }
        }
        _ => return None,
    };
    let index = value.get("end_index").or_else(|| value.get("index")).and_then(Value::as_u64);
    Some(Annotation { kind: Default::default(), source, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stream() {
        let mut p = Parser::default();
        let mut out = VecDeque::new();
        let events = [
            r#"{"type":"response.created","response":{}}"#,
            r#"{"type":"response.output_text.delta","delta":"Hi"}"#,
            r#"{"type":"response.output_text.annotation.added","annotation":{"type":"url_citation","url":"https://a.test","title":"A","start_index":0,"end_index":2}}"#,
            r#"{"type":"response.output_item.done","item":{"type":"function_call","call_id":"call_1","name":"f","arguments":"{}"}}"#,
        ];
        for e in events {
            assert!(!p.event("", e, &mut out).unwrap());
        }
        assert!(p.end().is_err());
        assert!(p.event("", r#"{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4}}}"#, &mut out).unwrap());
        let out: Vec<_> = out.into_iter().collect();
        assert_eq!(out[0], ModelEvent::TextDelta("Hi".into()));
        assert!(matches!(&out[1], ModelEvent::Annotation(a) if a.index == Some(2)));
        assert!(matches!(&out[2], ModelEvent::ToolCall(c) if c.call_id == "call_1"));
        assert_eq!(
            out[3],
            ModelEvent::Completed { usage: Some(Usage { input_tokens: 3, output_tokens: 4 }) }
        );
        let failed = p.event(
            "",
            r#"{"type":"response.failed","response":{"error":{"message":"boom"}}}"#,
            &mut VecDeque::new(),
        );
        assert_eq!(failed, Err(ModelError::Provider("boom".into())));
    }
}
