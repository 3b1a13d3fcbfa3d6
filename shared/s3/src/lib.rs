//! ChatKit attachment bytes on S3, the serverless way: the browser uploads straight to S3
//! with a presigned PUT (two-phase uploads), never through Lambda.
//!
//! - `attachments.create` validates the declared size and type ([`AttachmentSettings`]) and
//!   stores the attachment with a pending upload; the client gets a presigned PUT that
//!   expires within minutes and signs the content type and the declared size, for the upload
//!   key `uploads/<user part>/<id>`.
//! - When a message first uses it, one `HeadObject` checks that the upload exists with the
//!   declared size and type, and one `CopyObject` (on that `ETag` only) copies exactly those
//!   bytes to the served key `attachments/<user part>/<id>`, which no upload URL can write.
//!   Previews and the model read only the served key: a second PUT to the upload URL changes
//!   nothing anyone sees. (Uploads expire by a lifecycle rule after a day, and are deleted
//!   with the attachment.)
//! - Whenever attachments are sent, images get a presigned GET as `preview_url`, valid for
//!   at least the URL lifetime and the same for a quarter of it ([`url_window`]), so browsers
//!   cache the images. Presigning is a local computation: it costs no request.
//! - The user part is a keyed HMAC of the verified user id (`CHATKIT_USER_HASH_KEY`), so a URL
//!   does not confirm a guessed id; the id is server-minted, never the client's file name.
//!   Each attachment records its object key (private metadata), so attachments made before
//!   (an unkeyed SHA-256 of the user id) are read where they are.
//!
//! Build one with [`S3AttachmentStore::new`] from the function's shared AWS config.

mod counter;
mod errors;
mod keys;
mod presign;
mod settings;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use chatkit_protocol::{Attachment, CreateAttachmentParams, UploadDescriptor, UploadMethod};
use chatkit_store::UserId;
use chatkit_store::{AttachmentBytes, AttachmentStore, StoreError, StoreResult};
use errors::{status_of, unavailable};
use serde_json::{json, Map, Value};
use tracing::warn;

pub use keys::{legacy_object_key, served_key, upload_key, KEY_PREFIX, UPLOAD_PREFIX};
pub use presign::url_window;
pub use settings::{AttachmentSettings, PrefixKey};

/// Longest accepted file name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// A media type without parameters, lowercase; `None` when it is not `type/subtype`.
pub fn media_type(raw: &str) -> Option<String> {
    let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let (kind, sub) = essence.split_once('/')?;
    (token(kind) && token(sub)).then_some(essence)
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The declared size stored in the attachment's private metadata.
fn declared_size(attachment: &Attachment) -> Option<u64> {
    attachment.metadata().and_then(|m| m.get("size")).and_then(Value::as_u64)
}

/// Attachment bytes in one S3 bucket. Cheap to clone.
#[derive(Clone)]
pub struct S3AttachmentStore {
    client: Client,
    settings: Arc<AttachmentSettings>,
    prefix_key: Arc<aws_lc_rs::hmac::Key>,
    requests: Arc<AtomicU64>,
}

impl std::fmt::Debug for S3AttachmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3AttachmentStore")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl S3AttachmentStore {
    /// A store with a client built from the function's shared AWS config: path-style
    /// addressing when `settings.path_style`, checksums only where S3 requires them (a
    /// presigned PUT must not carry a checksum of the empty body), every request counted.
    pub fn new(sdk: &SdkConfig, settings: AttachmentSettings) -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(settings.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .interceptor(counter::RequestCounter(requests.clone()))
            .build();
        let key = match &settings.prefix_key {
            Some(key) => key.0.as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut key).expect("the system random source works");
                key
            }
        };
        let prefix_key = Arc::new(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key));
        Self { client: Client::from_conf(conf), settings: Arc::new(settings), prefix_key, requests }
    }

    /// The served key of a new attachment: `attachments/<32 hex of HMAC(key, user)>/<id>`.
    pub fn new_object_key(&self, user: &UserId, attachment_id: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.prefix_key, user.as_str().as_bytes());
        let part: String = tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{KEY_PREFIX}{part}/{attachment_id}")
    }

    pub fn settings(&self) -> &AttachmentSettings {
        &self.settings
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What is stored until a fresh URL replaces it on the way out (no signature is stored).
    fn unsigned_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.settings.bucket)
    }

    fn validate(&self, p: &CreateAttachmentParams) -> StoreResult<String> {
        let field = |f: &str| Some(format!("params.{f}"));
        let name = p.name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid {
                message: "the attachment has no name".into(),
                field: field("name"),
            });
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(StoreError::Invalid {
                message: format!(
                    "the file name is {} bytes long; at most {MAX_NAME_BYTES} are accepted",
                    name.len()
                ),
                field: field("name"),
            });
        }
        let Some(mime) = media_type(&p.mime_type) else {
            return Err(StoreError::Invalid {
                message: format!(
                    "`{}` is not a media type; the file's type could not be recognised",
                    p.mime_type
                ),
                field: field("mime_type"),
            });
        };
        if !self.settings.allows(&mime) {
            return Err(StoreError::Invalid {
                message: format!(
                    "{mime} files cannot be attached here; accepted types: {}",
                    self.settings.types.join(", ")
                ),
                field: field("mime_type"),
            });
        }
        if p.size == 0 {
            return Err(StoreError::Invalid {
                message: format!("`{name}` is empty"),
                field: field("size"),
            });
        }
        if p.size > self.settings.max_bytes {
            return Err(StoreError::InputTooLarge {
                message: format!(
                    "`{name}` is {}; attachments can be at most {} ({} bytes)",
                    human(p.size),
                    human(self.settings.max_bytes),
                    self.settings.max_bytes
                ),
                field: field("size"),
            });
        }
        Ok(mime)
    }
}

#[async_trait]
impl AttachmentStore for S3AttachmentStore {
    async fn create_attachment(
        &self,
        user: &UserId,
        id: String,
        p: &CreateAttachmentParams,
    ) -> StoreResult<Attachment> {
        let mime_type = self.validate(p)?;
        let key = self.new_object_key(user, &id);
        let url = self.unsigned_url(&key);
        let upload_descriptor = Some(UploadDescriptor {
            url: url.clone(),
            method: UploadMethod::Put,
            headers: BTreeMap::from([("content-type".to_string(), mime_type.clone())]),
        });
        let metadata =
            Some(Map::from_iter([("size".to_string(), json!(p.size)), ("key".into(), json!(key))]));
        let name = p.name.trim().to_string();
        Ok(if mime_type.starts_with("image/") {
            Attachment::Image {
                id,
                name,
                mime_type,
                upload_descriptor,
                thread_id: None,
                metadata,
                preview_url: url,
            }
        } else {
            Attachment::File { id, name, mime_type, upload_descriptor, thread_id: None, metadata }
        })
    }

    /// One `DeleteObjects`: the served object and the upload.
    async fn delete_attachment(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        self.delete_attachments(user, std::slice::from_ref(attachment)).await
    }

    /// One `DeleteObjects` per 500 attachments (their served objects and uploads).
    async fn delete_attachments(
        &self,
        user: &UserId,
        attachments: &[Attachment],
    ) -> StoreResult<()> {
        for chunk in attachments.chunks(500) {
            let objects = chunk
                .iter()
                .flat_map(|a| [served_key(user, a), upload_key(user, a)])
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.settings.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| unavailable("delete attachment bytes", &e))?;
            if let Some(failed) = out.errors().first() {
                return Err(StoreError::Unavailable(format!(
                    "could not delete {} attachment object(s): {}",
                    out.errors().len(),
                    failed.message().unwrap_or("no details")
                )));
            }
        }
        Ok(())
    }

    /// One `HeadObject`: the upload exists, with the declared size and type; then one
    /// `CopyObject` of exactly those bytes (that `ETag`) to the served key.
    async fn check_upload(&self, user: &UserId, attachment: &Attachment) -> StoreResult<()> {
        let name = attachment.name();
        let upload = upload_key(user, attachment);
        let head =
            self.client.head_object().bucket(&self.settings.bucket).key(&upload).send().await;
        let head = match head {
            Ok(head) => head,
            // without s3:ListBucket (the template grants none), S3 answers 403 for a missing key
            Err(err) if matches!(status_of(&err), Some(403 | 404)) => {
                return Err(StoreError::invalid(format!(
                    "attachment `{name}` ({}) was never uploaded: PUT its bytes to the upload URL first",
                    attachment.id()
                )));
            }
            Err(err) => {
                return Err(unavailable(format_args!("check the upload of `{name}`"), &err))
            }
        };
        let size = head.content_length().unwrap_or(0).max(0) as u64;
        if let Some(declared) = declared_size(attachment) {
            if size != declared {
                return Err(StoreError::invalid(format!(
                    "attachment `{name}` was declared as {declared} bytes but {size} were uploaded; attach it again"
                )));
            }
        }
        let uploaded_type = head.content_type().and_then(media_type).unwrap_or_default();
        if uploaded_type != attachment.mime_type() {
            return Err(StoreError::invalid(format!(
                "attachment `{name}` was declared as {} but uploaded as {}; attach it again",
                attachment.mime_type(),
                if uploaded_type.is_empty() { "an unknown type" } else { &uploaded_type }
            )));
        }
        let Some(etag) = head.e_tag() else {
            return Err(StoreError::Unavailable(format!(
                "could not check the upload of `{name}`: S3 gave no ETag"
            )));
        };
        let copied = self
            .client
            .copy_object()
            .bucket(&self.settings.bucket)
            .copy_source(format!("{}/{upload}", self.settings.bucket))
            .copy_source_if_match(etag)
            .key(served_key(user, attachment))
            .send()
            .await;
        match copied {
            Ok(_) => Ok(()),
            Err(err) if status_of(&err) == Some(412) => Err(StoreError::invalid(format!(
                "attachment `{name}` changed while it was being checked; attach it again"
            ))),
            Err(err) => Err(unavailable(format_args!("keep the checked upload of `{name}`"), &err)),
        }
    }

    /// Fresh presigned URLs: the PUT while the upload is pending, the preview GET of images.
    async fn present(&self, user: &UserId, mut attachment: Attachment) -> Attachment {
        if attachment.upload_descriptor().is_some() {
            match self.presign_upload(user, &attachment).await {
                Ok(descriptor) => attachment.set_upload_descriptor(Some(descriptor)),
                Err(err) => warn!(error = %err, "could not sign an upload URL"),
            }
        }
        if matches!(attachment, Attachment::Image { .. }) {
            match self.presign_download(user, &attachment).await {
                Ok(url) => {
                    if let Attachment::Image { preview_url, .. } = &mut attachment {
                        *preview_url = url;
                    }
                }
                Err(err) => warn!(error = %err, "could not sign a preview URL"),
            }
        }
        attachment.without_metadata()
    }

    async fn download_url(
        &self,
        user: &UserId,
        attachment: &Attachment,
    ) -> StoreResult<Option<String>> {
        self.presign_download(user, attachment).await.map(Some)
    }

    /// One (ranged) `GetObject`.
    async fn read(
        &self,
        user: &UserId,
        attachment: &Attachment,
        max_bytes: u64,
    ) -> StoreResult<Option<AttachmentBytes>> {
        let name = attachment.name();
        let mut request = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(served_key(user, attachment));
        if max_bytes < u64::MAX {
            request = request.range(format!("bytes=0-{}", max_bytes.saturating_sub(1)));
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(err) if status_of(&err) == Some(416) => {
                return Ok(Some(AttachmentBytes { data: Vec::new(), total_size: 0 }))
            }
            Err(err) if matches!(status_of(&err), Some(403 | 404)) => {
                return Err(StoreError::NotFound {
                    kind: "attachment bytes",
                    id: name.to_string(),
                });
            }
            Err(err) => return Err(unavailable(format_args!("read `{name}`"), &err)),
        };
        // `Content-Range: bytes 0-99/1234` gives the whole size of a partial answer
        let total = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok());
        let length = out.content_length().unwrap_or(0).max(0) as u64;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("could not read `{name}`: {e}")))?;
        let mut data = body.into_bytes().to_vec();
        data.truncate(max_bytes.min(usize::MAX as u64) as usize);
        Ok(Some(AttachmentBytes {
            total_size: total.unwrap_or(length).max(data.len() as u64),
            data,
        }))
    }

    fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
