//! Attachment settings, read once from the environment (declared in `chatkit-settings`).
//! The default types are images the models read, PDFs and plain-text formats; SVG is left out
//! on purpose (it can carry script, and models do not read it).

use std::time::Duration;

use chatkit_settings::catalog::{
    ATTACHMENTS_BUCKET, ATTACHMENT_MAX_BYTES, ATTACHMENT_TYPES, ATTACHMENT_UPLOAD_SECONDS,
    ATTACHMENT_URL_SECONDS, AWS_ENDPOINT_URL_S3, USER_HASH_KEY,
};
use chatkit_settings::{Lookup, SettingError};

/// Where attachments go and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSettings {
    /// `CHATKIT_ATTACHMENTS_BUCKET`: attachments are on when it is set.
    pub bucket: String,
    /// `CHATKIT_ATTACHMENT_MAX_BYTES` : larger files get 413.
    pub max_bytes: u64,
    /// `CHATKIT_ATTACHMENT_TYPES`: comma-separated allowlist of media types; `image/*` style
    /// entries allow a whole family.
    pub types: Vec<String>,
    /// `CHATKIT_ATTACHMENT_UPLOAD_SECONDS` (default 300, at most 3600): how long an upload URL
    /// is valid.
    pub upload_ttl: Duration,
    /// `CHATKIT_ATTACHMENT_URL_SECONDS` (default 3600, at most 43200): how long a preview or
    /// model download URL is valid at least, from when it is sent (the same URL is sent for a
    /// quarter of this, so browsers cache the images: [`crate::url_window`]).
    pub url_ttl: Duration,
    /// Path-style addressing (`http://host/bucket/key`), on when `AWS_ENDPOINT_URL_S3` points
    /// the client at an S3-compatible server such as moto or MinIO.
    pub path_style: bool,
    /// `CHATKIT_USER_HASH_KEY`: the HMAC key of the per-user part of object keys (so a key
    /// does not confirm a guessed user id). Unset: a random key per container (each
    /// attachment records its object key, so nothing depends on the key staying the same).
    pub prefix_key: Option<PrefixKey>,
}

/// A secret key; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrefixKey(pub String);

impl std::fmt::Debug for PrefixKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl AttachmentSettings {
    /// Settings for `bucket` with every default.
    pub fn new(bucket: impl Into<String>) -> Self {
        let defaults = Self::read(&|_: &str| None, bucket.into());
        defaults.expect("the declared defaults parse")
    }

    /// Reads the process environment; `None` when `CHATKIT_ATTACHMENTS_BUCKET` is unset.
    pub fn from_env() -> Result<Option<Self>, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    /// Reads settings through `get`; `None` when `CHATKIT_ATTACHMENTS_BUCKET` is unset.
    pub fn from_lookup(get: &dyn Lookup) -> Result<Option<Self>, SettingError> {
        ATTACHMENTS_BUCKET.raw(get).map(|bucket| Self::read(get, bucket)).transpose()
    }

    fn read(get: &dyn Lookup, bucket: String) -> Result<Self, SettingError> {
        let types: Vec<String> =
            ATTACHMENT_TYPES.list(get).iter().map(|t| t.to_ascii_lowercase()).collect();
        if let Some(bad) =
            types.iter().find(|t| crate::media_type(t).is_none() && !t.ends_with("/*"))
        {
            return Err(ATTACHMENT_TYPES
                .error(format!("`{bad}` is not a media type such as image/png or image/*")));
        }
        if types.is_empty() {
            return Err(ATTACHMENT_TYPES.error("the list is empty"));
        }
        Ok(Self {
            bucket,
            max_bytes: ATTACHMENT_MAX_BYTES.number(get)?,
            types,
            upload_ttl: ATTACHMENT_UPLOAD_SECONDS.seconds(get)?,
            url_ttl: ATTACHMENT_URL_SECONDS.seconds(get)?,
            path_style: AWS_ENDPOINT_URL_S3.is_set(get),
            prefix_key: USER_HASH_KEY.raw(get).map(PrefixKey),
        })
    }

    /// Whether `media_type` (normalized: lowercase, no parameters) is on the allowlist.
    pub fn allows(&self, media_type: &str) -> bool {
        self.types.iter().any(|allowed| match allowed.strip_suffix("/*") {
            Some(family) => media_type.split('/').next() == Some(family),
            None => allowed == media_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn off_without_a_bucket_and_defaults_with_one() {
        assert_eq!(AttachmentSettings::from_lookup(&lookup(&[])).unwrap(), None);
        let s = AttachmentSettings::from_lookup(&lookup(&[("CHATKIT_ATTACHMENTS_BUCKET", "b")]))
            .unwrap()
            .unwrap();
        assert_eq!(s, AttachmentSettings::new("b"));
        assert!(s.allows("image/png") && s.allows("application/pdf") && s.allows("text/plain"));
        assert!(
            !s.allows("image/svg+xml")
                && !s.allows("text/html")
                && !s.allows("application/x-msdownload")
        );
    }

    #[test]
    fn values_families_and_errors() {
        let s = AttachmentSettings::from_lookup(&lookup(&[
            ("CHATKIT_ATTACHMENTS_BUCKET", "b"),
            ("CHATKIT_ATTACHMENT_MAX_BYTES", "1000"),
            ("CHATKIT_ATTACHMENT_TYPES", "image/*, Application/PDF"),
            ("CHATKIT_ATTACHMENT_UPLOAD_SECONDS", "60"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.max_bytes, 1000);
        assert_eq!(s.upload_ttl, Duration::from_secs(60));
        assert!(s.path_style);
        assert!(s.allows("image/heic") && s.allows("application/pdf") && !s.allows("text/plain"));
        for (variable, value) in [
            ("CHATKIT_ATTACHMENT_MAX_BYTES", "0"),
            ("CHATKIT_ATTACHMENT_MAX_BYTES", "lots"),
            ("CHATKIT_ATTACHMENT_UPLOAD_SECONDS", "86400"),
            ("CHATKIT_ATTACHMENT_TYPES", "png"),
        ] {
            let err = AttachmentSettings::from_lookup(&lookup(&[
                ("CHATKIT_ATTACHMENTS_BUCKET", "b"),
                (variable, value),
            ]))
            .unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }
}
