//! Amazon Bedrock through the Converse stream API (`ConverseStream`), signed with the
//! function's own role: no API key. The API-neutral [`ModelRequest`] becomes Bedrock messages
//! (roles merged to alternate, tool calls as `toolUse`, their outputs as `toolResult`, images
//! and PDFs as content blocks from their bytes), and the event stream becomes [`ModelEvent`]s.

use std::collections::{HashMap, VecDeque};

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput, DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat,
    ImageSource, InferenceConfiguration, Message, SpecificToolChoice, StopReason,
    SystemContentBlock, Tool, ToolConfiguration, ToolInputSchema, ToolResultBlock,
    ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::{Document, Number};
use base64::Engine;
use serde_json::Value;

use super::{
    InputItem, InputPart, ModelError, ModelEvent, ModelRequest, Role, ToolCall, ToolChoice, Usage,
};

/// The events of one `ConverseStream` call.
pub(crate) type Events = EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>;

/// Starts the call: the stream once Bedrock accepted it, or the error it answered.
pub(crate) async fn open(
    client: &aws_sdk_bedrockruntime::Client,
    request: &ModelRequest,
    max_output_tokens: Option<u32>,
) -> Result<Events, ModelError> {
    let mut call = client.converse_stream().model_id(&request.model);
    for message in messages(&request.input)? {
        call = call.messages(message);
    }
    if !request.instructions.trim().is_empty() {
        call = call.system(SystemContentBlock::Text(request.instructions.clone()));
    }
    if let Some(max) = max_output_tokens {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        call = call.inference_config(InferenceConfiguration::builder().max_tokens(max).build());
    }
    if let Some(tools) = tool_config(request)? {
        call = call.tool_config(tools);
    }
    let output = call.send().await.map_err(|err| sdk_error(&err))?;
    Ok(output.stream)
}

fn invalid(what: &str, err: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{what}: {err}"))
}

/// The model input as Bedrock messages: they must start with a user message and alternate,
/// so consecutive messages of one role are merged, and application notes (no such role on
/// Bedrock) are labelled user text.
fn messages(input: &[InputItem]) -> Result<Vec<Message>, ModelError> {
    let mut turns: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    for item in input {
        let (role, blocks) = match item {
            InputItem::Message { role: Role::User, text } => {
                (ConversationRole::User, text_block(text))
            }
            InputItem::Message { role: Role::Assistant, text } => {
                (ConversationRole::Assistant, text_block(text))
            }
            InputItem::Message { role: Role::Developer, text } => (
                ConversationRole::User,
                text_block(&format!("[Note from the application]\n{text}")),
            ),
            InputItem::UserParts(parts) => (ConversationRole::User, user_parts(parts)),
            InputItem::FunctionCall { call_id, name, arguments } => {
                let input: Value = serde_json::from_str(arguments)
                    .unwrap_or_else(|_| Value::Object(Default::default()));
                let block = ToolUseBlock::builder()
                    .tool_use_id(call_id)
                    .name(name)
                    .input(document(&input))
                    .build()
                    .map_err(|e| invalid("a tool call", e))?;
                (ConversationRole::Assistant, vec![ContentBlock::ToolUse(block)])
            }
            InputItem::FunctionCallOutput { call_id, output } => {
                let block = ToolResultBlock::builder()
                    .tool_use_id(call_id)
                    .content(ToolResultContentBlock::Text(output.clone()))
                    .build()
                    .map_err(|e| invalid("a tool result", e))?;
                (ConversationRole::User, vec![ContentBlock::ToolResult(block)])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.first().is_some_and(|(role, _)| *role == ConversationRole::Assistant) {
        turns.insert(0, (ConversationRole::User, text_block("(earlier conversation omitted)")));
    }
    turns
        .into_iter()
        .map(|(role, content)| {
            Message::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|e| invalid("a message", e))
        })
        .collect()
}

/// Bedrock refuses blank text blocks.
fn text_block(text: &str) -> Vec<ContentBlock> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![ContentBlock::Text(text.to_string())]
    }
}

/// Text, images and PDFs; Bedrock takes their bytes (attachments are inlined as `data:` URLs
/// for it), so anything else is named instead.
fn user_parts(parts: &[InputPart]) -> Vec<ContentBlock> {
    let mut blocks = Vec::new();
    for part in parts {
        match part {
            InputPart::Text(text) => blocks.extend(text_block(text)),
            InputPart::Image { url } => match data_url(url).and_then(|(media, bytes)| {
                let format = image_format(&media)?;
                let source = ImageSource::Bytes(Blob::new(bytes));
                ImageBlock::builder().format(format).source(source).build().ok()
            }) {
                Some(image) => blocks.push(ContentBlock::Image(image)),
                None => blocks.extend(text_block("[an image the model cannot read]")),
            },
            InputPart::File { filename, url, .. } => match data_url(url).and_then(|(_, bytes)| {
                DocumentBlock::builder()
                    .format(DocumentFormat::Pdf)
                    .name(document_name(filename))
                    .source(DocumentSource::Bytes(Blob::new(bytes)))
                    .build()
                    .ok()
            }) {
                Some(file) => blocks.push(ContentBlock::Document(file)),
                None => blocks.extend(text_block(&format!(
                    "[the file {filename}, which the model cannot read]"
                ))),
            },
        }
    }
    blocks
}

/// `data:<media type>;base64,<bytes>` → (media type, bytes).
fn data_url(url: &str) -> Option<(String, Vec<u8>)> {
    let (head, data) = url.strip_prefix("data:")?.split_once(',')?;
    let media = head.strip_suffix(";base64")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    Some((media.to_ascii_lowercase(), bytes))
}

fn image_format(media: &str) -> Option<ImageFormat> {
    Some(match media {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        _ => return None,
    })
}

/// Bedrock's document names allow letters, digits, single spaces, hyphens, parentheses and
/// square brackets.
fn document_name(filename: &str) -> String {
    let stem = filename.rsplit_once('.').map_or(filename, |(stem, _)| stem);
    let mut name = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) { c } else { ' ' };
        if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
            name.push(c);
        }
    }
    let name: String = name.trim_end().chars().take(100).collect();
    if name.is_empty() {
        "document".into()
    } else {
        name
    }
}

fn tool_config(request: &ModelRequest) -> Result<Option<ToolConfiguration>, ModelError> {
    if request.tools.is_empty() {
        return Ok(None);
    }
    let mut config = ToolConfiguration::builder();
    for tool in &request.tools {
        let spec = ToolSpecification::builder()
            .name(&tool.name)
            .description(&tool.description)
            .input_schema(ToolInputSchema::Json(document(&tool.parameters)))
            .build()
            .map_err(|e| invalid("a tool", e))?;
        config = config.tools(Tool::ToolSpec(spec));
    }
    config = match &request.tool_choice {
        None => config,
        Some(ToolChoice::Required) => config.tool_choice(
            aws_sdk_bedrockruntime::types::ToolChoice::Any(AnyToolChoice::builder().build()),
        ),
        Some(ToolChoice::Function(name)) => {
            let choice = SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(|e| invalid("a tool choice", e))?;
            config.tool_choice(aws_sdk_bedrockruntime::types::ToolChoice::Tool(choice))
        }
    };
    config.build().map(Some).map_err(|e| invalid("the tools", e))
}

/// JSON as a Smithy document.
fn document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(map) => Document::Object(
            map.iter().map(|(k, v)| (k.clone(), document(v))).collect::<HashMap<_, _>>(),
        ),
    }
}

/// The HTTP status a Bedrock error code stands for, so retries and the user's retry button
/// treat it as the other APIs' answers: throttling and unavailability are worth retrying.
fn status_of(code: Option<&str>) -> u16 {
    match code.unwrap_or_default() {
        "ThrottlingException" | "ServiceQuotaExceededException" => 429,
        "ServiceUnavailableException" | "ModelNotReadyException" => 503,
        "ModelTimeoutException" => 408,
        "AccessDeniedException" => 403,
        "ResourceNotFoundException" => 404,
        "ValidationException" => 400,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        _ => 500,
    }
}

/// An error of the call or of its stream, as the other APIs' errors.
pub(crate) fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R>(
    err: &SdkError<E, R>,
) -> ModelError {
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let message = inner.message().unwrap_or("no details").to_string();
            ModelError::Status { status: status_of(inner.code()), message }
        }
        SdkError::DispatchFailure(failure) => ModelError::Transport {
            message: format!("{err}: {failure:?}").chars().take(300).collect(),
            connect: failure.is_io() || failure.is_timeout(),
        },
        SdkError::TimeoutError(_) => {
            ModelError::Transport { message: "the request timed out".into(), connect: true }
        }
        SdkError::ResponseError(_) => ModelError::Cut(err.to_string()),
        other => ModelError::Invalid(other.to_string()),
    }
}

/// Turns `ConverseStream` events into [`ModelEvent`]s: text deltas at once, a tool call once
/// its block stopped (its JSON arguments arrive in pieces), `Completed` with the usage from
/// the closing metadata.
#[derive(Default)]
pub(crate) struct Parser {
    tools: HashMap<i32, ToolCall>,
    stopped: bool,
}

impl Parser {
    /// Handles one event; `Ok(true)` once the response is complete.
    pub(crate) fn event(
        &mut self,
        event: ConverseStreamOutput,
        out: &mut VecDeque<ModelEvent>,
    ) -> Result<bool, ModelError> {
        match event {
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(ContentBlockStart::ToolUse(tool)) = start.start {
                    let call = ToolCall {
                        call_id: tool.tool_use_id,
                        name: tool.name,
                        arguments: String::new(),
                    };
                    self.tools.insert(start.content_block_index, call);
                }
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
                Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                    out.push_back(ModelEvent::TextDelta(text));
                }
                Some(ContentBlockDelta::ToolUse(piece)) => {
                    let call = self.tools.get_mut(&delta.content_block_index).ok_or_else(|| {
                        ModelError::Invalid("tool input for a block that is no tool call".into())
                    })?;
                    call.arguments.push_str(&piece.input);
                }
                _ => {}
            },
            ConverseStreamOutput::ContentBlockStop(stop) => {
                if let Some(mut call) = self.tools.remove(&stop.content_block_index) {
                    if call.arguments.trim().is_empty() {
                        call.arguments = "{}".into();
                    }
                    out.push_back(ModelEvent::ToolCall(call));
                }
            }
            ConverseStreamOutput::MessageStop(stop) => {
                self.stopped = true;
                if matches!(
                    stop.stop_reason,
                    StopReason::ContentFiltered | StopReason::GuardrailIntervened
                ) {
                    out.push_back(ModelEvent::Refusal(
                        "The reply was stopped by the provider's content filter.".into(),
                    ));
                }
            }
            ConverseStreamOutput::Metadata(metadata) => {
                let usage = metadata.usage.map(|u| Usage {
                    input_tokens: u64::try_from(u.input_tokens).unwrap_or_default(),
                    output_tokens: u64::try_from(u.output_tokens).unwrap_or_default(),
                });
                out.push_back(ModelEvent::Completed { usage });
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    /// The stream ended: complete only if the message stopped.
    pub(crate) fn end(&self, out: &mut VecDeque<ModelEvent>) -> Result<(), ModelError> {
        if self.stopped {
            out.push_back(ModelEvent::Completed { usage: None });
            Ok(())
        } else {
            Err(ModelError::Cut("the stream ended before the message stopped".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_merged_to_alternate_and_start_with_the_user() {
        let input = vec![
            InputItem::message(Role::Assistant, "Earlier reply"),
            InputItem::message(Role::User, "Hi"),
            InputItem::message(Role::Developer, "page: /orders"),
            InputItem::FunctionCall {
                call_id: "c1".into(),
                name: "get".into(),
                arguments: "{\"a\":1}".into(),
            },
            InputItem::FunctionCallOutput { call_id: "c1".into(), output: "42".into() },
            InputItem::message(Role::User, "  "),
        ];
        let messages = messages(&input).unwrap();
        let roles: Vec<&ConversationRole> = messages.iter().map(Message::role).collect();
        assert_eq!(
            roles,
            [
                &ConversationRole::User,
                &ConversationRole::Assistant,
                &ConversationRole::User,
                &ConversationRole::Assistant,
                &ConversationRole::User
            ]
        );
        assert_eq!(messages[2].content().len(), 2, "the user text and the note are one message");
        assert!(
            matches!(&messages[4].content()[0], ContentBlock::ToolResult(r) if r.tool_use_id() == "c1")
        );
    }

    #[test]
    fn images_and_pdfs_go_as_bytes_and_names_are_made_safe() {
        let png = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(b"png")
        );
        let blocks = user_parts(&[
            InputPart::Image { url: png },
            InputPart::Image { url: "https://bucket/x.png".into() },
            InputPart::File {
                filename: "Q3  report_v2.pdf".into(),
                url: "data:application/pdf;base64,JVBERg==".into(),
                tokens: 1_000,
            },
        ]);
        assert!(matches!(&blocks[0], ContentBlock::Image(i) if *i.format() == ImageFormat::Png));
        assert!(matches!(&blocks[1], ContentBlock::Text(t) if t.contains("cannot read")));
        assert!(matches!(&blocks[2], ContentBlock::Document(d) if d.name() == "Q3 report v2"));
    }

    #[test]
    fn throttling_is_retryable() {
        assert_eq!(status_of(Some("ThrottlingException")), 429);
        assert!(ModelError::Status { status: 429, message: String::new() }.is_retryable());
        assert!(!ModelError::Status {
            status: status_of(Some("ValidationException")),
            message: String::new()
        }
        .is_retryable());
    }
}
