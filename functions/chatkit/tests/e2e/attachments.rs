//! Attachments and dictation through the real binary, with moto serving S3: the browser's
//! side of a two-phase upload is a plain HTTP PUT to the presigned URL.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::function::Function;
use super::stub::{chat_text, responses_text, Stub};
use super::{token, JWT_SECRET, MODEL_KEY};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];
const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const NOTES: &str = "Order 42 shipped on Tuesday.\nTracking: ZX-9.\n";
const MAX_BYTES: u64 = 4096;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_S3").expect(
        "AWS_ENDPOINT_URL_S3 is not set: run these tests through `make test`, which starts moto",
    )
}

async fn s3() -> aws_sdk_s3::Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
    )
}

/// A fresh bucket in moto and the function using it (Responses API unless `env` says
/// otherwise).
async fn start(stub: &Stub, env: &[(&str, &str)]) -> (Function, String) {
    let bucket = format!("e2e-attachments-{}-{}", std::process::id(), rand_suffix());
    s3().await.create_bucket().bucket(&bucket).send().await.expect("moto create_bucket");
    let max = MAX_BYTES.to_string();
    let mut all = vec![
        ("CHATKIT_ATTACHMENTS_BUCKET", bucket.as_str()),
        ("CHATKIT_ATTACHMENT_MAX_BYTES", max.as_str()),
        ("CHATKIT_MODEL_API", "responses"),
        ("RUST_LOG", "info"),
    ];
    all.extend_from_slice(env);
    (Function::start_with(stub, JWT_SECRET, MODEL_KEY, &all).await, bucket)
}

/// `(store_requests, s3_requests)` of each logged `operation`, in order, from the function's
/// own request logs (the JSON answer's line, or the stream's closing line).
async fn requests_logged(f: &Function, operation: &str, expected: usize) -> Vec<(u64, u64)> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(&f.log_file).unwrap_or_default();
        let found: Vec<(u64, u64)> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|line| line["fields"].clone())
            .filter(|fields| {
                fields["operation"] == operation
                    && matches!(
                        fields["message"].as_str(),
                        Some("json response" | "stream finished")
                    )
            })
            .map(|fields| {
                (
                    fields["store_requests"].as_u64().unwrap(),
                    fields["s3_requests"].as_u64().unwrap(),
                )
            })
            .collect();
        if found.len() >= expected {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {expected} `{operation}` request logs in {}", f.log_file.display());
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        % 1_000_000_000
}

fn query(url: &str) -> HashMap<String, String> {
    let parsed = reqwest::Url::parse(url).unwrap();
    parsed.query_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// attachments.create, checked, then the bytes PUT to the presigned URL as a browser would.
async fn upload(f: &Function, user: &str, name: &str, mime: &str, bytes: &[u8]) -> Value {
    let (status, attachment) = f
        .json(&token(user), json!({"type": "attachments.create", "params": {"name": name, "size": bytes.len(), "mime_type": mime}}))
        .await;
    assert_eq!(status, 200, "{attachment}");
    put(f, &attachment, bytes, None).await;
    attachment
}

async fn put(f: &Function, attachment: &Value, bytes: &[u8], content_type: Option<&str>) {
    let descriptor = &attachment["upload_descriptor"];
    assert_eq!(descriptor["method"], "PUT");
    let mut request = f.client.put(descriptor["url"].as_str().unwrap()).body(bytes.to_vec());
    // the body sets content-length, as a browser's fetch does (it may not set that header):
    // real S3 refuses a length other than the signed one, moto does not check signatures
    for (k, v) in descriptor["headers"].as_object().unwrap() {
        if k != "content-length" {
            request = request.header(k.as_str(), v.as_str().unwrap());
        }
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "PUT to the presigned URL: {}", response.status());
}

fn message(text: &str, attachments: &[&Value]) -> Value {
    let ids: Vec<&Value> = attachments.iter().map(|a| &a["id"]).collect();
    json!({"content": [{"type": "input_text", "text": text}], "attachments": ids, "inference_options": {}})
}

async fn object_exists(bucket: &str, url: &str) -> bool {
    let key = reqwest::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .unwrap()
        .1
        .to_string();
    s3().await.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn upload_message_model_preview_and_delete_through_s3() {
    let stub = Stub::start().await;
    stub.push(responses_text(&["Got ", "them"]));
    let (f, bucket) = start(&stub, &[]).await;

    // create: a presigned PUT to our bucket, under the user's key prefix, content type signed
    let image = upload(&f, "ada", "receipt.png", "image/png", PNG).await;
    assert_eq!(image["type"], "image");
    assert!(image.get("metadata").is_none(), "private metadata never leaves the server: {image}");
    let put_url = reqwest::Url::parse(image["upload_descriptor"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        format!("http://{}:{}", put_url.host_str().unwrap(), put_url.port().unwrap()),
        endpoint()
    );
    let id = image["id"].as_str().unwrap();
    let path = put_url.path().to_string();
    assert!(
        path.starts_with(&format!("/{bucket}/uploads/")) && path.ends_with(&format!("/{id}")),
        "the upload URL writes only the upload key: {path}"
    );
    assert!(!path.contains("receipt"), "the key never holds the client's file name: {path}");
    let q = query(put_url.as_str());
    assert_eq!(q["X-Amz-Expires"], "300");
    assert!(q["X-Amz-SignedHeaders"].split(';').any(|h| h == "content-type"), "{q:?}");
    assert_eq!(image["upload_descriptor"]["headers"]["content-type"], "image/png");

    let pdf = upload(&f, "ada", "invoice.pdf", "application/pdf", PDF).await;
    let notes = upload(&f, "ada", "notes.txt", "text/plain", NOTES.as_bytes()).await;
    assert_eq!(pdf["type"], "file");

    // the message referencing them: checked, attached, sent back without upload descriptors
    let events = f.stream(&token("ada"), json!({"type": "threads.create", "params": {"input": message("What is in these?", &[&image, &pdf, &notes])}})).await;
    let sent = &events[1]["item"];
    assert_eq!(sent["type"], "user_message");
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    for attachment in sent["attachments"].as_array().unwrap() {
        assert_eq!(attachment["thread_id"], thread_id.as_str());
        assert!(
            attachment.get("upload_descriptor").is_none() && attachment.get("metadata").is_none(),
            "{attachment}"
        );
    }
    assert!(events.iter().any(|e| e["update"]["delta"] == "them"), "{events:?}");

    // the model got the image and the PDF as expiring URLs it can fetch, and the text inline
    let body = &stub.model_bodies()[0];
    let parts =
        body["input"].as_array().unwrap().last().unwrap()["content"].as_array().unwrap().clone();
    let image_url = parts.iter().find(|p| p["type"] == "input_image").expect("an input_image")
        ["image_url"]
        .as_str()
        .unwrap()
        .to_string();
    let file_url = parts.iter().find(|p| p["type"] == "input_file").expect("an input_file")
        ["file_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        parts.iter().any(|p| p["type"] == "input_text"
            && p["text"].as_str().unwrap().contains("Tracking: ZX-9.")),
        "{parts:?}"
    );
    assert_eq!(f.client.get(&image_url).send().await.unwrap().bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(f.client.get(&file_url).send().await.unwrap().bytes().await.unwrap().as_ref(), PDF);
    // valid for the URL lifetime (1 h) after a window of a quarter of it
    assert_eq!(query(&image_url)["X-Amz-Expires"], "4500");

    // the stored item lists the attachments, with a fresh preview that serves the image
    let (_, thread) = f
        .json(
            &token("ada"),
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await;
    let listed = &thread["items"]["data"][0]["attachments"];
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let preview = listed[0]["preview_url"].as_str().unwrap().to_string();
    assert!(preview.starts_with(&endpoint()), "{preview}");
    assert!(preview.contains(&format!("/{bucket}/attachments/")), "served from the checked copy");
    let fetched = f.client.get(&preview).send().await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), PNG);

    // a second PUT to the (still valid) upload URL, same size and type, changes nothing served:
    // previews and the model read the copy made when the upload was checked
    let mut swapped = PNG.to_vec();
    swapped[PNG.len() - 1] ^= 0xff;
    put(&f, &image, &swapped, None).await;
    let fetched = f.client.get(&preview).send().await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), PNG, "the checked bytes are served");
    assert_eq!(f.client.get(&image_url).send().await.unwrap().bytes().await.unwrap().as_ref(), PNG);
    let (_, page) = f
        .json(&token("ada"), json!({"type": "items.list", "params": {"thread_id": thread_id}}))
        .await;
    let last = page["data"].as_array().unwrap().last().unwrap();
    assert!(last["attachments"][0]["preview_url"].as_str().unwrap().starts_with(&endpoint()));

    // what it cost, as the function itself counted: presigning sends nothing; the message's
    // three first-used attachments are one HeadObject and one CopyObject each, plus one
    // GetObject for the text file's content; the listings' fresh previews cost no request
    let creates = requests_logged(&f, "attachments.create", 3).await;
    assert_eq!(
        creates,
        vec![(2, 0); 3],
        "attachments.create: the usage count and one DynamoDB write, no S3 request"
    );
    let (store, s3) = requests_logged(&f, "threads.create", 1).await[0];
    assert_eq!(s3, 3 * 2 + 1, "three HEADs, three copies and the text file's GET");
    eprintln!("threads.create with 3 attachments: {store} DynamoDB requests, {s3} S3 requests");
    assert_eq!(
        store, 14,
        "5 without attachments (the thread and message, the reply, the usage admission's two \
         writes and its settling; no title here), 3 reads and 3 writes of the attachments, 1 \
         pending count, and the in-flight slot's claim and release"
    );
    assert_eq!(requests_logged(&f, "threads.get_by_id", 1).await[0].1, 0);
    assert_eq!(requests_logged(&f, "items.list", 1).await[0].1, 0);

    // attachments.delete: the objects (served and upload) and the metadata are gone
    let put_url = image["upload_descriptor"]["url"].as_str().unwrap();
    assert!(object_exists(&bucket, put_url).await && object_exists(&bucket, &preview).await);
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": id}});
    let (status, body) = f.json(&token("ada"), delete.clone()).await;
    assert_eq!((status, body), (200, json!({})));
    assert!(!object_exists(&bucket, put_url).await, "the upload is gone");
    assert!(!object_exists(&bucket, &preview).await, "the served object is gone");
    assert_eq!(f.json(&token("ada"), delete).await.0, 404, "and so is the metadata");

    // threads.delete is the tombstone alone: the remaining attachments' objects and metadata
    // are the cleanup function's (tests/tests/cleanup.rs runs it against moto)
    let (status, _) = f
        .json(&token("ada"), json!({"type": "threads.delete", "params": {"thread_id": thread_id}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        requests_logged(&f, "attachments.delete", 1).await[0],
        (2, 1),
        "a read and a delete; one DeleteObjects"
    );
    assert_eq!(
        requests_logged(&f, "threads.delete", 1).await[0],
        (1, 0),
        "one TransactWriteItems, nothing on S3"
    );
    for attachment in [&pdf, &notes] {
        assert!(
            object_exists(&bucket, attachment["upload_descriptor"]["url"].as_str().unwrap()).await,
            "left for cleanup"
        );
    }
}

#[tokio::test]
async fn refusals_come_before_anything_is_written() {
    let stub = Stub::start().await;
    let (f, _bucket) = start(&stub, &[]).await;
    let create = |name: &str, size: u64, mime: &str| json!({"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime}});

    let (status, body) = f.json(&token("ada"), create("big.png", MAX_BYTES + 1, "image/png")).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("4096"), "{body}");
    let (status, body) = f.json(&token("ada"), create("page.html", 10, "text/html")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("text/html"), "{body}");
    assert_eq!(f.json(&token("ada"), create("x.svg", 10, "image/svg+xml")).await.0, 400);
    assert_eq!(f.json(&token("ada"), create("", 10, "image/png")).await.0, 400);
    assert_eq!(f.json(&token("ada"), create("empty.png", 0, "image/png")).await.0, 400);

    // never uploaded → 400, and no thread was created
    let (_, pending) =
        f.json(&token("ada"), create("later.png", PNG.len() as u64, "image/png")).await;
    let create_thread =
        |a: &Value| json!({"type": "threads.create", "params": {"input": message("look", &[a])}});
    let refused = f.post(Some(&token("ada")), &create_thread(&pending).to_string(), &[]).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("never uploaded"), "{body}");
    let (_, list) = f.json(&token("ada"), json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(list["data"], json!([]), "nothing was written");

    // uploaded with another size or type than declared → 400
    let (_, short) = f.json(&token("ada"), create("short.png", 100, "image/png")).await;
    put(&f, &short, PNG, None).await;
    let refused = f.post(Some(&token("ada")), &create_thread(&short).to_string(), &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("declared as 100 bytes"));
    let (_, disguised) =
        f.json(&token("ada"), create("doc.pdf", PNG.len() as u64, "application/pdf")).await;
    put(&f, &disguised, PNG, Some("image/png")).await;
    let refused = f.post(Some(&token("ada")), &create_thread(&disguised).to_string(), &[]).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("uploaded as image/png"));

    // another user's attachment, even uploaded, is not found
    let bobs = upload(&f, "bob", "bob.png", "image/png", PNG).await;
    let refused = f.post(Some(&token("ada")), &create_thread(&bobs).to_string(), &[]).await;
    assert_eq!(refused.status(), 404);
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": bobs["id"]}});
    assert_eq!(f.json(&token("ada"), delete).await.0, 404);
    let (_, list) = f.json(&token("ada"), json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(list["data"], json!([]), "still nothing written");

    // the same upload, once complete, is accepted
    put(&f, &pending, PNG, None).await;
    stub.push(chat_text(&["ok"]));
    let events = f.stream(&token("ada"), create_thread(&pending)).await;
    assert_eq!(events[1]["item"]["attachments"][0]["id"], pending["id"]);
}

#[tokio::test]
async fn chat_completions_and_inline_images() {
    let stub = Stub::start().await;
    stub.push(chat_text(&["A pixel"]));
    let (f, _) = start(
        &stub,
        &[("CHATKIT_MODEL_API", "chat_completions"), ("CHATKIT_ATTACHMENT_INLINE", "1")],
    )
    .await;
    let image = upload(&f, "ada", "pixel.png", "image/png", PNG).await;
    let pdf = upload(&f, "ada", "invoice.pdf", "application/pdf", PDF).await;
    f.stream(&token("ada"), json!({"type": "threads.create", "params": {"input": message("What is this?", &[&image, &pdf])}})).await;
    let body = &stub.model_bodies()[0];
    let content =
        body["messages"].as_array().unwrap().last().unwrap()["content"].as_array().unwrap().clone();
    let url = content.iter().find(|p| p["type"] == "image_url").expect("an image_url part")
        ["image_url"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine;
    assert_eq!(
        url,
        format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(PNG))
    );
    let named = content.iter().any(|p| {
        p["type"] == "text"
            && p["text"].as_str().unwrap().contains("invoice.pdf")
            && p["text"].as_str().unwrap().contains("could not read")
    });
    assert!(named, "the PDF is named as unreadable, not dropped: {content:?}");
}

#[tokio::test]
async fn dictation_through_the_provider() {
    let stub = Stub::start().await;
    let (f, _) = start(&stub, &[("CHATKIT_TRANSCRIBE_MAX_BYTES", "1000")]).await;
    use base64::Engine;
    let audio = |bytes: &[u8], mime: &str| json!({"type": "input.transcribe", "params": {"audio_base64": base64::engine::general_purpose::STANDARD.encode(bytes), "mime_type": mime}});

    stub.set_transcription(200, json!({"text": " Where is my order? "}));
    let (status, body) =
        f.json(&token("ada"), audio(b"OggS-fake-opus-frames", "audio/ogg;codecs=opus")).await;
    assert_eq!((status, body), (200, json!({"text": "Where is my order?"})));
    let call = stub
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/audio/transcriptions"))
        .expect("a transcription call");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {MODEL_KEY}").as_str()));
    assert!(call.content_type.unwrap().starts_with("multipart/form-data"));
    let raw = String::from_utf8_lossy(&call.raw);
    assert!(
        raw.contains("gpt-4o-mini-transcribe")
            && raw.contains("OggS-fake-opus-frames")
            && raw.contains("filename=\"audio.ogg\""),
        "{raw}"
    );

    let (status, body) = f.json(&token("ada"), audio(&[7u8; 1001], "audio/webm")).await;
    assert_eq!(status, 413, "{body}");
    let (status, body) = f.json(&token("ada"), audio(b"MZ", "application/x-msdownload")).await;
    assert_eq!(status, 400, "{body}");

    stub.set_transcription(
        500,
        json!({"error": {"message": format!("upstream exploded for key {MODEL_KEY}")}}),
    );
    let (status, body) = f.json(&token("ada"), audio(b"RIFF....WAVEfmt ", "audio/wav")).await;
    assert_eq!(status, 502, "{body}");
    // the provider's own words stay in the log, never in the answer; the key in neither
    assert!(!body.to_string().contains("upstream exploded"), "{body}");
    assert!(body["error"]["request_id"].is_string(), "{body}");
    assert!(!body.to_string().contains(MODEL_KEY), "the key never appears: {body}");
    let log = std::fs::read_to_string(&f.log_file).unwrap();
    assert!(log.contains("HTTP 500") && log.contains("upstream exploded"), "{log}");
    assert!(!log.contains(MODEL_KEY), "nor in the log");
}
