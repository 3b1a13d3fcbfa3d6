//! Attachment settings, read once from the environment.

use std::time::Duration;

/// Images the models read, PDFs and plain-text formats. SVG is left out on purpose (it can
/// carry script, and models do not read it).
pub const DEFAULT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
];

/// The default largest attachment: 10 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// A setting that could not be read; names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// Where attachments go and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSettings {
    /// `CHATKIT_ATTACHMENTS_BUCKET`: attachments are on when it is set.
    pub bucket: String,
    /// `CHATKIT_ATTACHMENT_MAX_BYTES` (default [`DEFAULT_MAX_BYTES`]): larger files get 413.
    pub max_bytes: u64,
    /// `CHATKIT_ATTACHMENT_TYPES`: comma-separated allowlist of media types; `image/*` style
    /// entries allow a whole family. Default [`DEFAULT_TYPES`].
    pub types: Vec<String>,
    /// `CHATKIT_ATTACHMENT_UPLOAD_SECONDS` (default 300, at most 3600): how long an upload URL
    /// is valid.
    pub upload_ttl: Duration,
    /// `CHATKIT_ATTACHMENT_URL_SECONDS` (default 3600, at most 43200): how long a preview or
    /// model download URL is valid. Fresh ones are minted whenever attachments are sent.
    pub url_ttl: Duration,
    /// Path-style addressing (`http://host/bucket/key`), on when `AWS_ENDPOINT_URL_S3` points
    /// the client at an S3-compatible server such as moto or MinIO.
    pub path_style: bool,
}

impl AttachmentSettings {
    /// Settings for `bucket` with every default.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            types: DEFAULT_TYPES.iter().map(std::string::ToString::to_string).collect(),
            upload_ttl: Duration::from_secs(300),
            url_ttl: Duration::from_secs(3600),
            path_style: false,
        }
    }

    /// Reads the process environment; `None` when `CHATKIT_ATTACHMENTS_BUCKET` is unset.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`. Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(bucket) = get("CHATKIT_ATTACHMENTS_BUCKET") else { return Ok(None) };
        let mut s = Self::new(bucket);
        let number =
            |variable: &'static str, min: u64, max: u64| -> Result<Option<u64>, ConfigError> {
                let Some(v) = get(variable) else { return Ok(None) };
                match v.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(ConfigError {
                        variable,
                        message: format!("`{v}` is not a whole number from {min} to {max}"),
                    }),
                }
            };
        if let Some(n) = number("CHATKIT_ATTACHMENT_MAX_BYTES", 1, 5 * 1024 * 1024 * 1024)? {
            s.max_bytes = n;
        }
        if let Some(n) = number("CHATKIT_ATTACHMENT_UPLOAD_SECONDS", 1, 3600)? {
            s.upload_ttl = Duration::from_secs(n);
        }
        if let Some(n) = number("CHATKIT_ATTACHMENT_URL_SECONDS", 1, 43_200)? {
            s.url_ttl = Duration::from_secs(n);
        }
        if let Some(list) = get("CHATKIT_ATTACHMENT_TYPES") {
            let types: Vec<String> = list
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect();
            if let Some(bad) =
                types.iter().find(|t| crate::media_type(t).is_none() && !t.ends_with("/*"))
            {
                return Err(ConfigError {
                    variable: "CHATKIT_ATTACHMENT_TYPES",
                    message: format!("`{bad}` is not a media type such as image/png or image/*"),
                });
            }
            if types.is_empty() {
                return Err(ConfigError {
                    variable: "CHATKIT_ATTACHMENT_TYPES",
                    message: "the list is empty".into(),
                });
            }
            s.types = types;
        }
        s.path_style = get("AWS_ENDPOINT_URL_S3").is_some();
        Ok(Some(s))
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
        assert_eq!(AttachmentSettings::from_lookup(lookup(&[])).unwrap(), None);
        let s = AttachmentSettings::from_lookup(lookup(&[("CHATKIT_ATTACHMENTS_BUCKET", "b")]))
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
        let s = AttachmentSettings::from_lookup(lookup(&[
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
            let err = AttachmentSettings::from_lookup(lookup(&[
                ("CHATKIT_ATTACHMENTS_BUCKET", "b"),
                (variable, value),
            ]))
            .unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }
}
