//! Presigned URLs: the upload PUT (its content type and declared size signed) and the
//! download GET of previews and the model (the same URL all through a window).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::presigning::{PresigningConfig, PresigningConfigBuilder};
use chatkit_protocol::{Attachment, UploadDescriptor, UploadMethod};
use chatkit_store::{StoreError, StoreResult, UserId};

use crate::errors::unavailable;
use crate::{declared_size, served_key, upload_key, S3AttachmentStore};

/// The window a download URL is signed for: a quarter of the URL lifetime (at least a
/// second), aligned to the Unix epoch, so every request in it signs the same URL. Returns the
/// window's start (the signing time) and its length.
pub fn url_window(ttl: Duration, now: SystemTime) -> (SystemTime, Duration) {
    let window = (ttl / 4).max(Duration::from_secs(1)).as_secs();
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let start = UNIX_EPOCH + Duration::from_secs(since_epoch - since_epoch % window);
    (start, Duration::from_secs(window))
}

/// The presigning config, or why the settings' expiry cannot be signed.
fn expiring(config: PresigningConfigBuilder) -> StoreResult<PresigningConfig> {
    config.build().map_err(|e| StoreError::Internal(format!("bad presigning expiry: {e}")))
}

impl S3AttachmentStore {
    /// A presigned PUT for the attachment's object, with its content type and its declared
    /// size signed: S3 itself refuses a body of any other length.
    pub async fn presign_upload(
        &self,
        user: &UserId,
        attachment: &Attachment,
    ) -> StoreResult<UploadDescriptor> {
        let size = declared_size(attachment).ok_or_else(|| {
            StoreError::Internal("a pending attachment without its declared size".into())
        })?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(upload_key(user, attachment))
            .content_type(attachment.mime_type())
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .presigned(expiring(PresigningConfig::builder().expires_in(self.settings.upload_ttl))?)
            .await
            .map_err(|e| unavailable("sign the upload URL", &e))?;
        let headers: BTreeMap<String, String> =
            presigned.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
        Ok(UploadDescriptor {
            url: presigned.uri().to_string(),
            method: UploadMethod::Put,
            headers,
        })
    }

    /// A presigned GET for the attachment's object, valid for at least the URL lifetime, and
    /// the same URL all through a [`url_window`] (it is signed at the window's start, and
    /// valid for the lifetime after the window's end): a page shown the same thread again in
    /// that time gets the same image URLs, and its browser's cache serves them (the object is
    /// never rewritten: `immutable`).
    pub async fn presign_download(
        &self,
        user: &UserId,
        attachment: &Attachment,
    ) -> StoreResult<String> {
        let ttl = self.settings.url_ttl;
        let (signed_at, window) = url_window(ttl, SystemTime::now());
        let config =
            expiring(PresigningConfig::builder().start_time(signed_at).expires_in(ttl + window))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(served_key(user, attachment))
            .response_cache_control(format!("private, max-age={}, immutable", ttl.as_secs()))
            .presigned(config)
            .await
            .map_err(|e| unavailable("sign the download URL", &e))?;
        Ok(presigned.uri().to_string())
    }
}
