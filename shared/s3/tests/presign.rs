//! What the presigned URLs sign, checked offline (presigning makes no request): expiry and
//! signing time, the signed content type, host, key prefix, the preview's caching, and no
//! checksum of an empty body. A moto or S3
//! server does not check signatures, so these assertions are what keeps them right.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use chatkit_protocol::{Attachment, CreateAttachmentParams};
use chatkit_s3::{
    legacy_object_key, served_key, upload_key, url_window, AttachmentSettings, PrefixKey,
    S3AttachmentStore,
};
use chatkit_store::UserId;
use chatkit_store::{AttachmentStore, StoreError};

/// The default URL lifetime.
const HOUR: Duration = Duration::from_secs(3600);

fn sdk() -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "not-a-real-secret",
            None,
            None,
            "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .build()
}

fn store() -> S3AttachmentStore {
    S3AttachmentStore::new(&sdk(), AttachmentSettings::new("chat-uploads"))
}

fn params(name: &str, size: u64, mime: &str) -> CreateAttachmentParams {
    CreateAttachmentParams { name: name.into(), size, mime_type: mime.into() }
}

/// Query pairs of a URL, percent-decoded.
fn query(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_upload_url_signs_the_content_type_and_expires_in_minutes() {
    let s = store();
    let user = UserId::new("auth0|ada");
    let stored = s
        .create_attachment(
            &user,
            "atc_01JD0000000000000000000001".into(),
            &params("../../etc/passwd.png", 69, "Image/PNG"),
        )
        .await
        .unwrap();
    assert!(stored.metadata().is_some(), "the declared size is kept privately");
    assert_eq!(stored.mime_type(), "image/png", "normalized");
    assert!(
        !stored.upload_descriptor().unwrap().url.contains("X-Amz-Signature"),
        "no signature is stored"
    );

    let key = served_key(&user, &stored);
    let upload = upload_key(&user, &stored);
    let sent = s.present(&user, stored).await;
    assert!(sent.metadata().is_none());
    let descriptor = sent.upload_descriptor().expect("pending upload keeps its descriptor");
    let url = &descriptor.url;
    assert!(
        key.starts_with("attachments/") && key.ends_with("/atc_01JD0000000000000000000001"),
        "{key}"
    );
    assert_eq!(upload, format!("uploads/{}", &key["attachments/".len()..]));
    assert!(
        !key.contains("passwd") && !key.contains("auth0"),
        "neither the file name nor the raw user id: {key}"
    );
    assert_ne!(
        key,
        legacy_object_key(&user, "atc_01JD0000000000000000000001"),
        "keyed: a guessed user id cannot be confirmed from a URL"
    );
    assert!(
        url.starts_with(&format!("https://chat-uploads.s3.eu-west-1.amazonaws.com/{upload}?")),
        "the upload URL writes only the upload key: {url}"
    );
    let q = query(url);
    assert_eq!(q["X-Amz-Expires"], "300");
    assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
    assert!(
        q["X-Amz-Credential"].starts_with("AKIDEXAMPLE/")
            && q["X-Amz-Credential"].ends_with("/eu-west-1/s3/aws4_request")
    );
    let signed: Vec<&str> = q["X-Amz-SignedHeaders"].split(';').collect();
    assert!(signed.contains(&"content-type"), "the content type must be signed: {signed:?}");
    // moto does not check signatures: this is what makes S3 refuse a body of another size
    assert!(signed.contains(&"content-length"), "the declared size must be signed: {signed:?}");
    assert_eq!(descriptor.headers.get("content-length").map(String::as_str), Some("69"));
    assert!(signed.contains(&"host"), "{signed:?}");
    assert!(
        !url.to_ascii_lowercase().contains("x-amz-checksum") && !url.contains("x-amz-sdk-checksum"),
        "no checksum of an empty body: {url}"
    );
    assert_eq!(
        descriptor.headers.get("content-type").map(String::as_str),
        Some("image/png"),
        "the client sends the signed type"
    );

    // the preview reads only the served key, which the upload URL cannot write
    let Attachment::Image { preview_url, .. } = &sent else { panic!("an image") };
    assert!(
        preview_url.starts_with(&format!("https://chat-uploads.s3.eu-west-1.amazonaws.com/{key}?")),
        "{preview_url}"
    );
    assert_eq!(query(preview_url)["X-Amz-Expires"], "4500");
    assert_eq!(s.request_count(), 0, "presigning sends no request");
}

#[tokio::test]
async fn a_preview_is_the_same_url_through_its_window_and_valid_for_the_lifetime_after() {
    let s = store();
    let user = UserId::new("ada");
    let mut stored = s
        .create_attachment(
            &user,
            "atc_01JD0000000000000000000002".into(),
            &params("a.png", 10, "image/png"),
        )
        .await
        .unwrap();
    stored.set_upload_descriptor(None);
    let preview = |attachment: Attachment| match attachment {
        Attachment::Image { preview_url, .. } => preview_url,
        other => panic!("not an image: {other:?}"),
    };
    // two sends in one window (again, should they straddle its end)
    let (first, second, signed_at) = loop {
        let (window_start, _) = url_window(HOUR, SystemTime::now());
        let first = s.present(&user, stored.clone()).await;
        assert!(first.upload_descriptor().is_none());
        let second = s.present(&user, stored.clone()).await;
        if url_window(HOUR, SystemTime::now()).0 == window_start {
            break (preview(first), preview(second), window_start);
        }
    };
    assert_eq!(first, second, "the same URL through the window, so the browser caches it");
    let q = query(&first);
    let signed_at = DateTime::from(signed_at).fmt(DateTimeFormat::DateTime).unwrap();
    assert_eq!(q["X-Amz-Date"], signed_at.replace(['-', ':'], ""), "signed at the window's start");
    assert_eq!(q["X-Amz-Expires"], "4500", "valid for the hour after the window's end");
    assert_eq!(q["response-cache-control"], "private, max-age=3600, immutable");

    let pdf = s
        .create_attachment(
            &user,
            "atc_01JD0000000000000000000003".into(),
            &params("a.pdf", 10, "application/pdf"),
        )
        .await
        .unwrap();
    assert!(matches!(pdf, Attachment::File { .. }));
    let url = s.download_url(&user, &pdf).await.unwrap().unwrap();
    assert!(url.contains("/attachments/") && url.contains("X-Amz-Signature="), "{url}");
}

#[test]
fn url_windows_are_a_quarter_of_the_lifetime_aligned_to_the_epoch() {
    let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
    let quarter = Duration::from_secs(900);
    // 1 800 000 000 is a multiple of 900
    assert_eq!(url_window(HOUR, at(1_800_000_123)), (at(1_800_000_000), quarter));
    assert_eq!(url_window(HOUR, at(1_800_000_899)), (at(1_800_000_000), quarter));
    assert_eq!(url_window(HOUR, at(1_800_000_900)), (at(1_800_000_900), quarter));
    // never under a second
    let second = Duration::from_secs(1);
    assert_eq!(url_window(Duration::from_secs(2), at(77)), (at(77), second));
}

#[tokio::test]
async fn path_style_for_a_local_endpoint() {
    let sdk = sdk().into_builder().endpoint_url("http://127.0.0.1:5000").build();
    let mut settings = AttachmentSettings::new("local-bucket");
    settings.path_style = true;
    let s = S3AttachmentStore::new(&sdk, settings);
    let user = UserId::new("ada");
    let a = s
        .create_attachment(
            &user,
            "atc_01JD0000000000000000000004".into(),
            &params("a.txt", 3, "text/plain"),
        )
        .await
        .unwrap();
    let sent = s.present(&user, a).await;
    let url = &sent.upload_descriptor().unwrap().url;
    assert!(url.starts_with("http://127.0.0.1:5000/local-bucket/uploads/"), "{url}");
}

#[tokio::test]
async fn create_refuses_what_the_limits_exclude() {
    let mut settings = AttachmentSettings::new("b");
    settings.max_bytes = 1000;
    let s = S3AttachmentStore::new(&sdk(), settings);
    let user = UserId::new("ada");
    let create = |p: CreateAttachmentParams| {
        let s = s.clone();
        let user = user.clone();
        async move { s.create_attachment(&user, "atc_01JD0000000000000000000005".into(), &p).await }
    };
    assert!(
        matches!(create(params("big.png", 1001, "image/png")).await, Err(StoreError::InputTooLarge { message, .. }) if message.contains("1000"))
    );
    assert!(create(params("ok.png", 1000, "image/png")).await.is_ok());
    for bad in [
        params("a.html", 10, "text/html"),
        params("a.svg", 10, "image/svg+xml"),
        params("a", 10, ""),
        params("a", 10, "not a type"),
        params(" ", 10, "image/png"),
        params("a.png", 0, "image/png"),
        params(&"n".repeat(300), 10, "image/png"),
    ] {
        let got = create(bad.clone()).await;
        assert!(matches!(got, Err(StoreError::Invalid { .. })), "{bad:?} → {got:?}");
    }
    assert_eq!(
        create(params("notes.txt", 10, "text/plain; charset=utf-8")).await.unwrap().mime_type(),
        "text/plain"
    );
}

#[tokio::test]
async fn the_user_part_of_keys_is_keyed_and_recorded() {
    let keyed = |key: &str| {
        let mut settings = AttachmentSettings::new("chat-uploads");
        settings.prefix_key = Some(PrefixKey(key.into()));
        S3AttachmentStore::new(&sdk(), settings)
    };
    let (a, b, other) =
        (keyed("k1-0123456789abcdef"), keyed("k1-0123456789abcdef"), keyed("k2-0123456789abcdef"));
    let user = UserId::new("ada@example.com");
    let id = "atc_01JD0000000000000000000009";
    assert_eq!(
        a.new_object_key(&user, id),
        b.new_object_key(&user, id),
        "stable across containers"
    );
    assert_ne!(a.new_object_key(&user, id), other.new_object_key(&user, id), "keyed");
    assert_ne!(a.new_object_key(&user, id), a.new_object_key(&UserId::new("bob"), id));
    // an attachment records its key; one made before keys were recorded is read where it is
    let made = a
        .create_attachment(&user, id.into(), &params("a.pdf", 3, "application/pdf"))
        .await
        .unwrap();
    assert_eq!(served_key(&user, &made), a.new_object_key(&user, id));
    assert_eq!(served_key(&user, &made.clone().without_metadata()), legacy_object_key(&user, id));
}
