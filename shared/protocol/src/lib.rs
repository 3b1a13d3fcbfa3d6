//! The ChatKit server protocol as Rust types.
//!
//! Wire conventions (docs/protocol.md §1.4): `null` optionals are omitted, defaulted fields are
//! always written, `created_at` is written as RFC 3339 UTC and read in naive, offset or epoch
//! forms, unknown keys are ignored, ids are opaque strings.

pub mod attachment;
pub mod content;
pub mod events;
pub mod functions;
pub mod ids;
pub mod items;
pub mod requests;
pub mod tasks;
pub mod thread;
pub mod timestamp;
pub mod widgets;

pub use attachment::{Attachment, UploadDescriptor, UploadMethod};
pub use content::{Annotation, AssistantMessageContent, Source, UserMessageContent};
pub use events::{NoticeLevel, StreamOptions, ThreadItemUpdate, ThreadStreamEvent};
pub use functions::{Function, OPERATION_FUNCTIONS};
pub use items::*;
pub use requests::*;
pub use tasks::{StatusIndicator, Task, Workflow, WorkflowSummary, WorkflowType};
pub use thread::{Order, Page, Thread, ThreadMetadata, ThreadStatus};
pub use timestamp::Timestamp;

/// Encodes one event as an SSE frame: `data: <compact JSON>\n\n`.
pub fn sse_frame(event: &ThreadStreamEvent) -> Vec<u8> {
    let mut frame = b"data: ".to_vec();
    serde_json::to_writer(&mut frame, event).expect("events serialize");
    frame.extend_from_slice(b"\n\n");
    frame
}
