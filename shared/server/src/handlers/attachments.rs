//! `attachments.create`, `attachments.delete`, and the attachment steps of
//! other operations: checking uploads before a message uses them, fresh URLs whenever
//! attachments are sent, and removing a deleted thread's attachment bytes.

use std::collections::HashSet;

use chatkit_protocol::{
    Attachment, CreateAttachmentParams, DeleteAttachmentParams, Order, ThreadItem,
};
use chatkit_store::{ids, PageRequest, StoreError, UserId};
use futures::future::{join_all, try_join_all};
use tracing::warn;

use crate::{AttachmentStore, ChatKitError, ChatKitServer, JsonBody, RequestContext};

fn attachment_store(s: &ChatKitServer) -> Result<&dyn AttachmentStore, ChatKitError> {
    s.attachments.as_deref().ok_or_else(|| {
        ChatKitError::NotImplemented("attachments are not enabled on this server".into())
    })
}

/// Mints an attachment with its upload descriptor and stores its metadata: one store write.
pub(crate) async fn create(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: CreateAttachmentParams,
) -> Result<JsonBody, ChatKitError> {
    let bytes = attachment_store(s)?;
    let attachment =
        bytes.create_attachment(&ctx.user, ids::new_id(ids::prefix::ATTACHMENT), &p).await?;
    // counted once it is valid: made today, and pending until a message uses it
    if let Some(usage) = &s.usage {
        usage.admit_attachment(&ctx).await?;
    }
    if let Err(err) = s.store.save_attachment(&ctx.user, &attachment).await {
        if let Some(usage) = &s.usage {
            usage.attachments_settled(&ctx, &[attachment.id()]).await;
        }
        return Err(err.into());
    }
    JsonBody::of(&bytes.present(&ctx.user, attachment).await)
}

/// Deletes the bytes, then the metadata. 404 for an attachment the caller does not have.
pub(crate) async fn delete(
    s: &ChatKitServer,
    ctx: RequestContext,
    p: DeleteAttachmentParams,
) -> Result<JsonBody, ChatKitError> {
    let bytes = attachment_store(s)?;
    let attachment = s.store.load_attachment(&ctx.user, &p.attachment_id).await?;
    bytes.delete_attachment(&ctx.user, &attachment).await?;
    s.store.delete_attachment(&ctx.user, &p.attachment_id).await?;
    if let (Some(usage), Some(_)) = (&s.usage, attachment.upload_descriptor()) {
        usage.attachments_settled(&ctx, &[attachment.id()]).await;
    }
    Ok(JsonBody::empty())
}

/// An attachment a new message references, checked, and what saving the message changes.
pub(crate) struct Referenced {
    attachment: Attachment,
    /// It must be saved again (newly linked to the thread, or no longer pending).
    changed: bool,
    /// Its upload was pending until now (it counted against the pending limit).
    was_pending: bool,
}

/// The attachments a new message references, checked and ready to be written: each is the
/// caller's (404 otherwise), and each pending upload is complete and matches what was
/// declared (400 otherwise). Nothing is written here; the returned list (duplicates removed,
/// in order) marks which ones must be saved again with the thread id.
pub(crate) async fn referenced(
    s: &ChatKitServer,
    user: &UserId,
    thread_id: &str,
    ids: &[String],
) -> Result<Vec<Referenced>, ChatKitError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    let unique: Vec<&String> = ids.iter().filter(|id| seen.insert(id.as_str())).collect();
    let loaded = try_join_all(unique.iter().map(|id| s.store.load_attachment(user, id))).await?;
    if let Some(bytes) = s.attachments.as_deref() {
        let pending = loaded.iter().filter(|a| a.upload_descriptor().is_some());
        try_join_all(pending.map(|a| bytes.check_upload(user, a))).await?;
    }
    Ok(loaded
        .into_iter()
        .map(|mut attachment| {
            let was_pending = attachment.upload_descriptor().is_some();
            let changed = attachment.thread_id() != Some(thread_id) || was_pending;
            attachment.set_thread_id(thread_id);
            attachment.set_upload_descriptor(None);
            Referenced { attachment, changed, was_pending }
        })
        .collect())
}

/// Saves the attachments [`referenced`] marked (one write each, concurrently), counts the
/// ones that were pending as sent, and returns them as a message stores them: with their
/// private metadata (e.g. where the bytes are), which [`present_all`] removes before
/// anything is sent.
pub(crate) async fn attach(
    s: &ChatKitServer,
    ctx: &RequestContext,
    checked: Vec<Referenced>,
) -> Result<Vec<Attachment>, ChatKitError> {
    let changed = checked.iter().filter(|r| r.changed);
    try_join_all(changed.map(|r| s.store.save_attachment(&ctx.user, &r.attachment))).await?;
    if let Some(usage) = &s.usage {
        let sent: Vec<&str> =
            checked.iter().filter(|r| r.was_pending).map(|r| r.attachment.id()).collect();
        if !sent.is_empty() {
            usage.attachments_settled(ctx, &sent).await;
        }
    }
    Ok(checked.into_iter().map(|r| r.attachment).collect())
}

/// Attachments as sent to the client: fresh URLs, no private metadata.
pub(crate) async fn present_all(
    s: &ChatKitServer,
    user: &UserId,
    attachments: Vec<Attachment>,
) -> Vec<Attachment> {
    match s.attachments.as_deref() {
        Some(bytes) => join_all(attachments.into_iter().map(|a| bytes.present(user, a))).await,
        None => attachments.into_iter().map(Attachment::without_metadata).collect(),
    }
}

/// Presents the attachments of every user message among `items`, in place.
pub(crate) async fn present_items(s: &ChatKitServer, user: &UserId, items: &mut [ThreadItem]) {
    for item in items.iter_mut() {
        if let ThreadItem::UserMessage(message) = item {
            if !message.attachments.is_empty() {
                message.attachments =
                    present_all(s, user, std::mem::take(&mut message.attachments)).await;
            }
        }
    }
}

/// Before a thread is deleted: deletes the bytes of the attachments its messages reference
/// and returns their ids (their metadata is deleted after the thread). Reads every item page
/// (⌈items / 100⌉ store requests) and each referenced attachment's metadata (one each): an
/// attachment that another thread re-used since is left alone. Bytes go first, so a request
/// that dies halfway leaves a thread the user can delete again, never unreachable objects.
pub(crate) async fn delete_thread_bytes(
    s: &ChatKitServer,
    user: &UserId,
    thread_id: &str,
) -> Result<Vec<String>, ChatKitError> {
    let Some(bytes) = s.attachments.as_deref() else { return Ok(Vec::new()) };
    let mut ids: Vec<String> = Vec::new();
    let mut page = PageRequest::new(100, Order::Asc);
    loop {
        let loaded = s.store.load_thread_items(user, thread_id, &page).await?;
        for item in &loaded.items.data {
            if let ThreadItem::UserMessage(message) = item {
                for attachment in &message.attachments {
                    if !ids.iter().any(|id| id == attachment.id()) {
                        ids.push(attachment.id().to_string());
                    }
                }
            }
        }
        if !loaded.items.has_more {
            break;
        }
        page = page.after(loaded.items.after);
    }
    let mut owned = Vec::new();
    for result in join_all(ids.iter().map(|id| s.store.load_attachment(user, id))).await {
        match result {
            Ok(attachment) if attachment.thread_id() == Some(thread_id) => owned.push(attachment),
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    if !owned.is_empty() {
        bytes.delete_attachments(user, &owned).await?;
    }
    Ok(owned.iter().map(|a| a.id().to_string()).collect())
}

/// After a thread is deleted: its attachments' metadata (one store request each). A failure
/// only leaves metadata whose bytes are gone; it is logged, and expires with the retention.
pub(crate) async fn delete_metadata(s: &ChatKitServer, ctx: &RequestContext, ids: &[String]) {
    for result in join_all(ids.iter().map(|id| s.store.delete_attachment(&ctx.user, id))).await {
        match result {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => {
                warn!(request_id = %ctx.request_id, error = %err, "could not delete a deleted thread's attachment metadata");
            }
        }
    }
}
