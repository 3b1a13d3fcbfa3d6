//! Where attachment *bytes* live (S3 in production): the interface the server calls on
//! `attachments.*`, before a message uses an upload, and when presenting attachments; the
//! responder reads the bytes through it. The metadata stays in the [`crate::Store`].

use async_trait::async_trait;
use chatkit_protocol::{Attachment, CreateAttachmentParams};

use crate::{StoreResult, UserId};

/// Up to a limit of an attachment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentBytes {
    /// The bytes read: all of them, or the first `max_bytes` asked for.
    pub data: Vec<u8>,
    /// The object's whole size.
    pub total_size: u64,
}

impl AttachmentBytes {
    /// Whether `data` is only the beginning of the object.
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < self.total_size
    }
}

/// Storage for attachment *bytes* (the metadata lives in the [`crate::Store`]). Without one,
/// `attachments.*` requests answer 501.
///
/// The server calls it: on `attachments.create` (then stores what it returns and sends
/// [`AttachmentStore::present`] of it); when a message references an attachment whose upload
/// is pending ([`AttachmentStore::check_upload`], before anything is written); whenever
/// attachments are sent to a client (`present`); on `attachments.delete` and `threads.delete`.
/// Responders read the bytes (or an expiring URL) for the model.
#[async_trait]
pub trait AttachmentStore: Send + Sync + 'static {
    /// Validates the upload and builds the attachment *as stored*: with its
    /// `upload_descriptor` (the upload is pending until a message uses it). Signed URLs belong
    /// in [`AttachmentStore::present`], which makes fresh ones.
    async fn create_attachment(
        &self,
        user: &UserId,
        id: String,
        params: &CreateAttachmentParams,
    ) -> StoreResult<Attachment>;

    /// Deletes the bytes. Deleting bytes that are already gone succeeds.
    async fn delete_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()>;

    /// Deletes the bytes of several attachments (a deleted thread's). Default: one by one.
    async fn delete_attachments(
        &self,
        user: &UserId,
        attachments: &[Attachment],
    ) -> StoreResult<()> {
        for attachment in attachments {
            self.delete_attachment(user, attachment).await?;
        }
        Ok(())
    }

    /// Checks that a pending upload is complete and matches what was declared, before a
    /// message uses it: [`crate::StoreError::Invalid`] (never uploaded, wrong size or type) stops the message before
    /// anything is written. Default: nothing to check.
    async fn check_upload(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        let _ = (user, attachment);
        Ok(())
    }

    /// The attachment as sent to a client: fresh expiring URLs (`preview_url`, and the
    /// upload URL while the upload is pending), private metadata removed. Infallible: a URL
    /// that cannot be signed is left as stored (and logged). Default: as stored, without
    /// metadata.
    async fn present(&self, user: &UserId, attachment: Attachment) -> Attachment {
        let _ = user;
        attachment.without_metadata()
    }

    /// An expiring URL a model provider can fetch the bytes from; `None` when this store has
    /// no such URLs.
    async fn download_url(
        &self,
        user: &UserId,
        attachment: &Attachment,
    ) -> StoreResult<Option<String>> {
        let _ = (user, attachment);
        Ok(None)
    }

    /// Up to `max_bytes` of the bytes; `None` when this store cannot read them back.
    async fn read(
        &self,
        user: &UserId,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> StoreResult<Option<AttachmentBytes>> {
        let _ = (user, attachment, max_bytes);
        Ok(None)
    }

    /// Backend requests made so far (for the request logs); 0 when not counted.
    fn request_count(&self) -> u64 {
        0
    }
}
