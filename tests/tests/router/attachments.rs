//! The attachment steps of the router, with an attachment store that records what it is asked:
//! uploads checked before anything is written, fresh URLs whenever attachments are sent, a
//! deleted thread's bytes removed, and the store requests each step costs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chatkit_protocol::{
    Attachment, CreateAttachmentParams, ThreadItem, ThreadStreamEvent, UploadDescriptor,
    UploadMethod,
};
use chatkit_server::{AttachmentStore, ChatKitServer};
use chatkit_store::prelude::*;
use chatkit_store::{MemoryStore, UserId};
use chatkit_tests::scripted;
use serde_json::{json, Map, Value};

use super::Harness;

/// Bytes "uploaded" by id; every check, presentation and deletion recorded.
#[derive(Default)]
struct Recording {
    uploaded: Mutex<HashSet<String>>,
    checks: Mutex<Vec<String>>,
    presented: Mutex<u64>,
    deleted: Mutex<Vec<String>>,
}

#[async_trait]
impl AttachmentStore for Recording {
    async fn create_attachment(
        &self,
        _user: &UserId,
        id: String,
        p: &CreateAttachmentParams,
    ) -> chatkit_store::StoreResult<Attachment> {
        let upload_descriptor = Some(UploadDescriptor {
            url: format!("s3://b/{id}"),
            method: UploadMethod::Put,
            headers: Default::default(),
        });
        let metadata = Some(Map::from_iter([("size".to_string(), json!(p.size))]));
        Ok(Attachment::Image {
            preview_url: format!("s3://b/{id}"),
            id,
            name: p.name.clone(),
            mime_type: p.mime_type.clone(),
            upload_descriptor,
            thread_id: None,
            metadata,
        })
    }

    async fn delete_attachment(
        &self,
        _user: &UserId,
        attachment: &Attachment,
    ) -> chatkit_store::StoreResult<()> {
        self.deleted.lock().unwrap().push(attachment.id().to_string());
        Ok(())
    }

    async fn check_upload(
        &self,
        _user: &UserId,
        attachment: &Attachment,
    ) -> chatkit_store::StoreResult<()> {
        self.checks.lock().unwrap().push(attachment.id().to_string());
        match self.uploaded.lock().unwrap().contains(attachment.id()) {
            true => Ok(()),
            false => Err(chatkit_store::StoreError::invalid(format!(
                "attachment {} was never uploaded",
                attachment.id()
            ))),
        }
    }

    async fn present(&self, _user: &UserId, mut attachment: Attachment) -> Attachment {
        let mut n = self.presented.lock().unwrap();
        *n += 1;
        if let Attachment::Image { preview_url, id, .. } = &mut attachment {
            *preview_url = format!("https://signed.test/{id}?n={n}");
        }
        attachment.without_metadata()
    }
}

fn harness() -> (Harness, Arc<Recording>) {
    let store = Arc::new(MemoryStore::new());
    let uploads = Arc::new(Recording::default());
    let server = ChatKitServer::new(store.clone(), Arc::new(scripted::Scripted))
        .with_attachment_store(uploads.clone());
    (Harness { server, store }, uploads)
}

async fn create(h: &Harness, uploads: &Recording, user: &str, name: &str, uploaded: bool) -> Value {
    let a = h.json(user, json!({"type": "attachments.create", "params": {"name": name, "size": 10, "mime_type": "image/png"}})).await;
    if uploaded {
        uploads.uploaded.lock().unwrap().insert(a["id"].as_str().unwrap().to_string());
    }
    a
}

fn with_attachments(text: &str, ids: &[&Value]) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}],
        "attachments": ids.iter().map(|a| a["id"].clone()).collect::<Vec<_>>(), "inference_options": {}}}})
}

fn user_message(events: &[ThreadStreamEvent]) -> chatkit_protocol::UserMessageItem {
    events
        .iter()
        .find_map(|e| match e {
            ThreadStreamEvent::ItemDone { item: ThreadItem::UserMessage(m) } => Some(m.clone()),
            _ => None,
        })
        .expect("a user message")
}

#[tokio::test]
async fn create_returns_fresh_urls_and_no_private_metadata() {
    let (h, uploads) = harness();
    let before = h.requests();
    let a = create(&h, &uploads, "ada", "a.png", false).await;
    assert_eq!(h.requests() - before, 1, "attachments.create is one store write");
    assert!(a.get("metadata").is_none(), "{a}");
    assert!(a["preview_url"].as_str().unwrap().starts_with("https://signed.test/"), "{a}");
    let stored =
        h.store.load_attachment(&UserId::new("ada"), a["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(stored.metadata().unwrap()["size"], 10, "the declared size is stored privately");
}

#[tokio::test]
async fn a_pending_upload_is_checked_before_anything_is_written() {
    let (h, uploads) = harness();
    let done = create(&h, &uploads, "ada", "done.png", true).await;
    let pending = create(&h, &uploads, "ada", "pending.png", false).await;
    let snapshot = h.store.snapshot();
    let err = h.error("ada", with_attachments("look", &[&done, &pending])).await;
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("never uploaded"));
    assert_eq!(h.store.snapshot(), snapshot, "not even the checked attachment was re-saved");

    // an unknown id is a 404, also before anything is written
    let missing = json!({"id": "atc_01JD0000000000000000000009"});
    assert_eq!(h.error("ada", with_attachments("look", &[&done, &missing])).await.status(), 404);
    assert_eq!(h.store.snapshot(), snapshot);
}

#[tokio::test]
async fn each_attachment_costs_a_read_and_a_write_and_one_check_while_pending() {
    let (h, uploads) = harness();
    let plain = {
        let before = h.requests();
        h.create("ada", "no attachments").await;
        h.requests() - before
    };
    let a = create(&h, &uploads, "ada", "a.png", true).await;
    let b = create(&h, &uploads, "ada", "b.png", true).await;
    let before = h.requests();
    let events = h.stream("ada", with_attachments("no attachments", &[&a, &b, &a])).await;
    assert_eq!(
        h.requests() - before - plain,
        4,
        "two attachments (one listed twice): a read and a write each"
    );
    assert_eq!(uploads.checks.lock().unwrap().len(), 2, "one upload check per attachment");

    let sent = user_message(&events);
    assert_eq!(sent.attachments.len(), 2);
    let thread_id = sent.thread_id.clone();
    for attachment in &sent.attachments {
        assert_eq!(attachment.thread_id(), Some(thread_id.as_str()));
        assert!(attachment.upload_descriptor().is_none() && attachment.metadata().is_none());
    }
    let stored =
        h.store.load_attachment(&UserId::new("ada"), a["id"].as_str().unwrap()).await.unwrap();
    assert!(
        stored.upload_descriptor().is_none(),
        "the descriptor is dropped once the upload is used"
    );
    assert_eq!(stored.thread_id(), Some(thread_id.as_str()));

    // a later message re-using an attached attachment neither checks nor writes it again
    let mut again = super::add_message_body(&thread_id, "again");
    again["params"]["input"]["attachments"] = json!([a["id"]]);
    h.stream("ada", again).await;
    assert_eq!(uploads.checks.lock().unwrap().len(), 2);

    // every listing mints fresh preview URLs
    let get = json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}});
    let first = h.json("ada", get.clone()).await;
    let second = h.json("ada", get).await;
    let preview = |v: &Value| {
        v["items"]["data"][0]["attachments"][0]["preview_url"].as_str().unwrap().to_string()
    };
    assert!(preview(&first).starts_with("https://signed.test/"));
    assert_ne!(preview(&first), preview(&second));
    let list = h
        .json(
            "ada",
            json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}),
        )
        .await;
    assert!(list["data"][0]["attachments"][0]["preview_url"]
        .as_str()
        .unwrap()
        .starts_with("https://signed.test/"));
    assert!(!list.to_string().contains("metadata\":{\"size"), "{list}");
}

#[tokio::test]
async fn deleting_a_thread_deletes_its_attachments() {
    let (h, uploads) = harness();
    let a = create(&h, &uploads, "ada", "a.png", true).await;
    let b = create(&h, &uploads, "ada", "b.png", true).await;
    let kept = create(&h, &uploads, "ada", "kept.png", true).await;
    let events = h.stream("ada", with_attachments("two", &[&a, &b])).await;
    let thread_id = user_message(&events).thread_id;
    h.stream("ada", with_attachments("other thread", &[&kept])).await;

    let delete = json!({"type": "threads.delete", "params": {"thread_id": thread_id}});
    assert_eq!(h.json("ada", delete).await, json!({}));
    let mut deleted = uploads.deleted.lock().unwrap().clone();
    deleted.sort();
    let mut expected =
        vec![a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string()];
    expected.sort();
    assert_eq!(deleted, expected, "only this thread's attachments");
    let user = UserId::new("ada");
    assert!(h.store.load_attachment(&user, a["id"].as_str().unwrap()).await.is_err());
    assert!(h.store.load_attachment(&user, kept["id"].as_str().unwrap()).await.is_ok());
}
