//! Attachment metadata: upsert, load, delete.

use std::collections::BTreeMap;

use chatkit_protocol::{Attachment, UploadDescriptor, UploadMethod};
use chatkit_store::ids::{new_id, prefix};

use super::*;

pub fn file_attachment() -> Attachment {
    Attachment::File {
        id: new_id(prefix::ATTACHMENT),
        name: "report.pdf".to_string(),
        mime_type: "application/pdf".to_string(),
        upload_descriptor: Some(UploadDescriptor {
            url: "https://uploads.example/abc".to_string(),
            method: UploadMethod::Put,
            headers: BTreeMap::from([("x-amz-acl".to_string(), "private".to_string())]),
        }),
        thread_id: None,
        metadata: Some(serde_json::Map::from_iter([(
            "size".to_string(),
            serde_json::json!(48213),
        )])),
    }
}

pub fn image_attachment() -> Attachment {
    Attachment::Image {
        id: new_id(prefix::ATTACHMENT),
        name: "cat.png".to_string(),
        mime_type: "image/png".to_string(),
        upload_descriptor: None,
        thread_id: None,
        metadata: None,
        preview_url: "https://previews.example/cat.png".to_string(),
    }
}

/// Attachments save (upsert), load and delete; missing ones are NotFound.
pub async fn attachments_lifecycle(h: &dyn StoreHarness) {
    let store = h.store();
    let mut file = file_attachment();
    let image = image_attachment();
    store.save_attachment(&alice(), &file).await.unwrap();
    store.save_attachment(&alice(), &image).await.unwrap();
    assert_eq!(store.load_attachment(&alice(), file.id()).await.unwrap(), file);
    assert_eq!(store.load_attachment(&alice(), image.id()).await.unwrap(), image);

    file.set_thread_id(&new_id(prefix::THREAD));
    store.save_attachment(&alice(), &file).await.unwrap();
    assert_eq!(store.load_attachment(&alice(), file.id()).await.unwrap(), file);

    store.delete_attachment(&alice(), file.id()).await.unwrap();
    assert_not_found(store.load_attachment(&alice(), file.id()).await, "deleted attachment");
    assert_not_found(store.delete_attachment(&alice(), file.id()).await, "deleting twice");
    assert_eq!(store.load_attachment(&alice(), image.id()).await.unwrap(), image);

    let never = new_id(prefix::ATTACHMENT);
    assert_not_found(store.load_attachment(&alice(), &never).await, "unknown attachment");
    assert_not_found(
        store.delete_attachment(&alice(), &never).await,
        "deleting an unknown attachment",
    );
}
