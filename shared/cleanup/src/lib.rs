//! Thread cleanup, the second half of `threads.delete`. The request put a tombstone on the
//! thread's head and answered; the head's change reaches this handler through the table's
//! DynamoDB Stream (`functions/cleanup`, filtered to tombstoned heads). For each such record
//! it deletes the thread's attachment bytes (through the [`AttachmentStore`], when one is
//! plugged in), their metadata, every record of the partition, and the head last.
//!
//! Every step is idempotent, so a failure is simply retried: the handler reports the first
//! record it could not finish as a batch item failure (`ReportBatchItemFailures`), Lambda
//! retries from there, and after the configured retries the record goes to the dead-letter
//! queue. Records for threads that are alive are skipped, so a stray or replayed record can
//! never delete a live thread.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chatkit_dynamodb::{
    is_thread_tombstone, DynamoStore, PK_ATTRIBUTE, SK_ATTRIBUTE, TOMBSTONE_ATTRIBUTE,
};
use chatkit_store::AttachmentStore;
use serde_dynamo::AttributeValue;
use tracing::{info, warn};

/// Deletes what thread deletes left behind.
#[derive(Clone)]
pub struct ThreadCleanup {
    store: DynamoStore,
    attachments: Option<Arc<dyn AttachmentStore>>,
}

/// What one tombstone record came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not a tombstoned thread head: nothing to do.
    Skipped,
    /// The thread was alive after all (its head has no tombstone): left alone.
    Alive,
    /// The thread's records and attachments are gone.
    Purged { records: usize, attachments: usize },
}

fn string<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    }
}

impl ThreadCleanup {
    pub fn new(store: DynamoStore) -> Self {
        Self { store, attachments: None }
    }

    /// The hook for attachment bytes: a deleted thread's attachments are passed to
    /// [`AttachmentStore::delete_attachments`] (which must treat missing bytes as deleted;
    /// on S3 one `DeleteObjects` per 1000) before their metadata is removed. Without one, only the metadata is deleted.
    pub fn with_attachment_store(mut self, attachments: Arc<dyn AttachmentStore>) -> Self {
        self.attachments = Some(attachments);
        self
    }

    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Purges the thread a stream record names, if it is a tombstoned head.
    pub async fn record(&self, record: &EventRecord) -> Result<Outcome, String> {
        let keys = &record.change.keys;
        let image = &record.change.new_image;
        let tombstone = image.contains_key(TOMBSTONE_ATTRIBUTE) && record.event_name != "REMOVE";
        if !is_thread_tombstone(string(keys, SK_ATTRIBUTE), tombstone) {
            return Ok(Outcome::Skipped);
        }
        let pk = string(keys, PK_ATTRIBUTE).ok_or("the record has no pk")?;
        let Some(plan) = self.store.plan_purge(pk).await.map_err(|e| e.to_string())? else {
            return Ok(Outcome::Alive);
        };
        if let Some(bytes) = &self.attachments {
            if !plan.attachments().is_empty() {
                bytes
                    .delete_attachments(plan.user(), plan.attachments())
                    .await
                    .map_err(|e| format!("attachment bytes: {e}"))?;
            }
        }
        let (records, attachments) = (plan.records(), plan.attachments().len());
        let thread_id = plan.thread_id().to_string();
        self.store.finish_purge(plan).await.map_err(|e| e.to_string())?;
        info!(thread_id, records, attachments, "deleted thread cleaned up");
        Ok(Outcome::Purged { records, attachments })
    }

    /// Handles one batch of stream records, in order. The first record that fails is
    /// reported (with the records after it) so Lambda retries from there.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            if let Err(error) = self.record(record).await {
                let sequence = record.change.sequence_number.clone();
                warn!(error = %error, sequence = sequence.as_deref().unwrap_or(""), "thread cleanup failed; Lambda retries the batch from this record");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
                break;
            }
        }
        response
    }
}
