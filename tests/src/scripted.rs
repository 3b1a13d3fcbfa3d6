//! A scripted responder (shared by the router and function tests): what it does depends on the user's text, so tests can drive every
//! pipeline path without a model.

use std::time::Duration;

use async_trait::async_trait;
use chatkit_protocol::*;
use chatkit_server::*;
use chatkit_store::{StoreError, StoreResult, UserId};
use serde_json::{json, Map};

pub struct Scripted;

fn text_of(turn: &Turn) -> String {
    turn.input.as_ref().map(UserMessageItem::plain_text).unwrap_or_default()
}

/// Streams an assistant message made of `parts`, with a pause between deltas.
pub async fn stream_reply(
    sink: &EventSink,
    parts: &[&str],
    pause: Duration,
) -> Result<(), StreamError> {
    let id = sink.new_id("msg");
    let mut item = AssistantMessageItem {
        id: id.clone(),
        thread_id: sink.thread_id().into(),
        created_at: timestamp::now(),
        content: vec![],
    };
    sink.emit(ThreadStreamEvent::ItemAdded { item: item.clone().into() }).await?;
    let update = |update| ThreadStreamEvent::ItemUpdated { item_id: id.clone(), update };
    sink.emit(update(ThreadItemUpdate::ContentPartAdded {
        content_index: 0,
        content: AssistantMessageContent::text(""),
    }))
    .await?;
    for part in parts {
        tokio::time::sleep(pause).await;
        sink.emit(update(ThreadItemUpdate::TextDelta {
            content_index: 0,
            delta: part.to_string(),
        }))
        .await?;
    }
    let content = AssistantMessageContent::text(parts.concat());
    sink.emit(update(ThreadItemUpdate::ContentPartDone {
        content_index: 0,
        content: content.clone(),
    }))
    .await?;
    item.content = vec![content];
    sink.done(item).await?;
    Ok(())
}

#[async_trait]
impl Responder for Scripted {
    async fn respond(&self, turn: Turn, sink: EventSink) -> Result<(), StreamError> {
        let text = text_of(&turn);
        let thread_id = sink.thread_id().to_string();
        let now = timestamp::now();
        match text.as_str() {
            "" => {
                // resumed after a tool output or a structured input: say what the history holds
                let output = turn.history.iter().rev().find_map(|i| match i {
                    ThreadItem::ClientToolCall(c) if c.status == ToolCallStatus::Completed => {
                        c.output.clone()
                    }
                    _ => None,
                });
                let summary = match output {
                    Some(output) => format!("tool output: {output}"),
                    None => "resumed".to_string(),
                };
                stream_reply(&sink, &[&summary, "."], Duration::ZERO).await
            }
            "title" => {
                stream_reply(&sink, &["Hello", " there"], Duration::ZERO).await?;
                let mut thread = turn.thread.clone();
                thread.title = Some("A scripted title".into());
                sink.update_thread(thread).await?;
                Ok(())
            }
            "tool" => {
                let call = ClientToolCallItem {
                    id: sink.new_id("tc"),
                    thread_id,
                    created_at: now,
                    status: ToolCallStatus::Pending,
                    call_id: "call_1".into(),
                    name: "get_selection".into(),
                    arguments: Map::from_iter([("scope".to_string(), json!("page"))]),
                    output: None,
                };
                sink.done(call).await?;
                Ok(())
            }
            "hidden" => {
                let note = HiddenContextItem {
                    id: sink.new_id("msg"),
                    thread_id,
                    created_at: now,
                    content: json!({"secret": "model only"}),
                };
                sink.done(note).await?;
                stream_reply(&sink, &["visible"], Duration::ZERO).await
            }
            "fail" => {
                stream_reply(&sink, &["partial answer"], Duration::ZERO).await?;
                Err(StreamError::transient("the model went away"))
            }
            "panic" => panic!("scripted panic"),
            "slow" => {
                stream_reply(&sink, &["one ", "two ", "three ", "four"], Duration::from_millis(100))
                    .await
            }
            "ask" => {
                let item = StructuredInputItem {
                    id: sink.new_id("msg"),
                    thread_id,
                    created_at: now,
                    status: StructuredInputStatus::Pending,
                    inputs: vec![
                        StructuredInput::MultipleChoice {
                            id: "priority".into(),
                            question: "Priority?".into(),
                            answer: None,
                            options: vec![
                                ChoiceOption { value: "Low".into() },
                                ChoiceOption { value: "High".into() },
                            ],
                            multiple: false,
                        },
                        StructuredInput::Freeform {
                            id: "notes".into(),
                            question: "Notes?".into(),
                            answer: None,
                            description: None,
                        },
                    ],
                };
                sink.done(item).await?;
                Ok(())
            }
            "widget" => {
                let widget = WidgetItem {
                    id: sink.new_id("msg"),
                    thread_id,
                    created_at: now,
                    // the actions the router tests send from it (a request naming a widget
                    // may only send an action the widget offers)
                    widget: json!({"type": "Card", "children": [
                        {"type": "Text", "value": "Order #42"},
                        {"type": "Row", "children": [
                            {"type": "Button", "label": "Cancel", "onClickAction": {"type": "order.cancel", "payload": {"id": 42}}},
                            {"type": "Button", "label": "Toggle", "onClickAction": {"type": "toggle"}},
                            {"type": "Button", "label": "Add", "onClickAction": {"type": "counter.add", "payload": {"n": 41}}},
                            {"type": "Button", "label": "Set", "onClickAction": {"type": "counter.set", "payload": {"n": 41}}}
                        ]}
                    ]}),
                    copy_text: Some("Order #42".into()),
                };
                sink.done(widget).await?;
                Ok(())
            }
            "stream widget" => {
                let card = json!({"type": "Card", "children": [{"type": "Title", "value": "Report"}, {"type": "Markdown", "id": "body", "value": ""}]});
                let Some(mut widget) = sink.stream_widget(card).await? else {
                    return Err(StreamError::custom("invalid widget", false));
                };
                widget.append_text("body", "Sales ", false).await?;
                widget.append_text("body", "are up.", true).await?;
                widget
                    .update_component(
                        "body",
                        json!({"type": "Markdown", "id": "body", "value": "Sales are up 4%."}),
                    )
                    .await?;
                widget.append_text("nope", "ignored", true).await?;
                widget.finish(Some("Report: Sales are up 4%.".into())).await?;
                Ok(())
            }
            "effects" => {
                sink.client_effect("highlight", json!({"selector": "#order-42"})).await?;
                sink.client_effect("refresh", json!("orders")).await?;
                sink.notice(
                    NoticeLevel::Warning,
                    "Your plan renews **tomorrow**.",
                    Some("Heads up".into()),
                )
                .await?;
                stream_reply(&sink, &["done"], Duration::ZERO).await
            }
            "bad widget" => {
                let shown = sink
                    .widget(
                        json!({"type": "Card", "children": [{"type": "Text"}]}),
                        Some("Order #42: shipped".into()),
                    )
                    .await?;
                assert!(shown.is_none());
                let none = sink.widget(json!({"type": "Modal"}), None).await?;
                assert!(none.is_none());
                Ok(())
            }
            other => stream_reply(&sink, &["You said: ", other], Duration::ZERO).await,
        }
    }

    async fn action(
        &self,
        _turn: Turn,
        action: Action,
        sender: Option<WidgetItem>,
        sink: EventSink,
    ) -> Result<(), StreamError> {
        sink.progress(Some("bolt"), format!("running {}", action.kind)).await?;
        if let Some(mut widget) = sender {
            widget.widget =
                json!({"type": "Card", "children": [{"type": "Text", "value": "Done"}]});
            sink.emit(ThreadStreamEvent::ItemReplaced { item: widget.into() }).await?;
        }
        Ok(())
    }

    async fn sync_action(
        &self,
        _ctx: &RequestContext,
        _thread: &ThreadMetadata,
        action: Action,
        sender: Option<WidgetItem>,
    ) -> Result<SyncCustomActionResponse, ChatKitError> {
        let updated_item = sender.map(|mut w| {
            w.widget =
                json!({"type": "Card", "children": [{"type": "Text", "value": action.kind}]});
            ThreadItem::Widget(w)
        });
        Ok(SyncCustomActionResponse { updated_item })
    }

    async fn transcribe(
        &self,
        _ctx: &RequestContext,
        audio: AudioInput,
    ) -> Result<TranscriptionResult, ChatKitError> {
        Ok(TranscriptionResult {
            text: format!("{} bytes of {}", audio.data.len(), audio.media_type()),
        })
    }
}

/// Attachment bytes "stored" nowhere: mints descriptors, as a presigned-URL store would.
pub struct FakeUploads;

#[async_trait]
impl AttachmentStore for FakeUploads {
    async fn create_attachment(
        &self,
        _user: &UserId,
        id: String,
        p: &CreateAttachmentParams,
    ) -> StoreResult<Attachment> {
        if p.size > 10_000_000 {
            return Err(StoreError::InputTooLarge {
                message: format!("{} bytes; attachments can be at most 10000000", p.size),
                field: Some("params.size".into()),
            });
        }
        let upload_descriptor = Some(UploadDescriptor {
            url: format!("https://uploads.test/{id}"),
            method: UploadMethod::Put,
            headers: Default::default(),
        });
        Ok(if p.mime_type.starts_with("image/") {
            Attachment::Image {
                preview_url: format!("https://files.test/{id}"),
                id,
                name: p.name.clone(),
                mime_type: p.mime_type.clone(),
                upload_descriptor,
                thread_id: None,
                metadata: None,
            }
        } else {
            Attachment::File {
                id,
                name: p.name.clone(),
                mime_type: p.mime_type.clone(),
                upload_descriptor,
                thread_id: None,
                metadata: None,
            }
        })
    }

    async fn delete_attachment(&self, _user: &UserId, _attachment: &Attachment) -> StoreResult<()> {
        Ok(())
    }
}
