//! Write helpers: transactions and BatchWriteItem in chunks of 25 with retries of
//! unprocessed items.

use std::time::Duration;

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use chatkit_retry::Backoff;
use chatkit_store::{StoreError, StoreResult};

use crate::error::{self, Cancelled};
use crate::keys::{self, Key, EXPIRES_AT, THREAD_HEAD, THREAD_TAIL};
use crate::records::Item;
use crate::DynamoStore;

/// BatchWriteItem takes at most this many requests.
pub(crate) const BATCH_SIZE: usize = 25;
/// TransactWriteItems takes at most this many actions.
pub(crate) const MAX_TRANSACTION_ACTIONS: usize = 100;
/// Attempts at a batch whose items keep coming back unprocessed.
pub(crate) const MAX_BATCH_ATTEMPTS: u32 = 8;

/// Condition that the record exists.
pub(crate) const EXISTS: &str = "attribute_exists(pk)";
/// Condition on a thread's head record: the thread exists and is not being deleted
/// (no tombstone). Every write into a thread carries it, so nothing resurrects a thread.
pub(crate) const ALIVE: &str = "attribute_exists(pk) AND attribute_not_exists(deleted_at)"; // keys::DELETED_AT

pub(crate) fn built<T>(result: Result<T, BuildError>) -> StoreResult<T> {
    result.map_err(|e| StoreError::Internal(format!("cannot build DynamoDB request: {e}")))
}

impl DynamoStore {
    /// One PutItem of `record`, unconditional.
    pub(crate) async fn put(&self, record: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            .send()
            .await
            .map(drop)
            .map_err(|e| error::sdk("PutItem", e))
    }

    /// A transaction action putting `record`.
    pub(crate) fn put_action(&self, record: Item) -> StoreResult<TransactWriteItem> {
        let put = built(Put::builder().table_name(&self.table).set_item(Some(record)).build())?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction action putting `record` only if it already exists (`condition`).
    pub(crate) fn put_if_action(
        &self,
        record: Item,
        condition: &str,
    ) -> StoreResult<TransactWriteItem> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(record))
                .condition_expression(condition)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction action putting an idempotency record unless the key is held by an
    /// unexpired earlier write (which then comes back with the cancellation).
    pub(crate) fn claim_action(&self, record: Item, now_ms: u64) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(pk) OR #until < :now")
            .expression_attribute_names("#until", crate::records::ONCE_UNTIL)
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    /// A transaction action replacing an item record only while it is pending (records of the
    /// first format, which carry no state, are taken as they are). The record as it was comes
    /// back with a cancellation.
    pub(crate) fn complete_action(&self, record: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("#state = :pending OR attribute_exists(#legacy)")
            .expression_attribute_names("#state", crate::records::STATE)
            .expression_attribute_names("#legacy", "item")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(crate::records::PENDING.into()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    /// A transaction action putting the tombstone on metadata copy `sk` of partition `pk`, only
    /// while the thread is alive; the head also leaves the thread list (its index keys go).
    pub(crate) fn tombstone_action(&self, pk: &str, sk: &str) -> StoreResult<TransactWriteItem> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, sk)))
            .condition_expression(ALIVE)
            .expression_attribute_names("#deleted", keys::DELETED_AT)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = if sk == THREAD_HEAD {
            update
                .update_expression("SET #deleted = :now REMOVE #gpk, #gsk")
                .expression_attribute_names("#gpk", keys::GSI1PK)
                .expression_attribute_names("#gsk", keys::GSI1SK)
        } else {
            update.update_expression("SET #deleted = :now")
        };
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    /// A transaction action requiring the thread of partition `pk` to be alive.
    pub(crate) fn thread_exists_action(&self, pk: &str) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, THREAD_HEAD)))
            .condition_expression(ALIVE)
            .build();
        Ok(TransactWriteItem::builder().condition_check(built(check)?).build())
    }

    /// Transaction actions requiring the thread of partition `pk` to be alive. With retention on,
    /// they also push both metadata copies' TTL to `expires_at`, so a thread lives as long as
    /// it is written to (its old items still expire on their own schedule); without it, a
    /// plain condition check.
    pub(crate) fn thread_alive_actions(
        &self,
        pk: &str,
        expires_at: Option<u64>,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let Some(expires_at) = expires_at else { return Ok(vec![self.thread_exists_action(pk)?]) };
        [THREAD_HEAD, THREAD_TAIL]
            .into_iter()
            .map(|sk| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::key(pk, sk)))
                    .update_expression("SET #ttl = :ttl")
                    .condition_expression(if sk == THREAD_HEAD { ALIVE } else { EXISTS })
                    .expression_attribute_names("#ttl", EXPIRES_AT)
                    .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
                    .build();
                Ok(TransactWriteItem::builder().update(built(update)?).build())
            })
            .collect()
    }

    /// Runs one TransactWriteItems (one request).
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), Cancelled> {
        if actions.len() > MAX_TRANSACTION_ACTIONS {
            return Err(Cancelled::Other(StoreError::Internal(format!(
                "a DynamoDB transaction takes at most {MAX_TRANSACTION_ACTIONS} writes, this one needs {}",
                actions.len()
            ))));
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
            .map(drop)
            .map_err(error::transact)
    }

    /// Deletes `keys` with BatchWriteItem, 25 per request.
    pub(crate) async fn batch_delete(&self, keys: Vec<Key>) -> StoreResult<()> {
        let requests = keys
            .into_iter()
            .map(|k| {
                let delete = built(DeleteRequest::builder().set_key(Some(k)).build())?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> StoreResult<()> {
        for chunk in requests.chunks(BATCH_SIZE) {
            self.batch_write_chunk(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// One chunk, resending unprocessed items after a jittered exponential backoff.
    async fn batch_write_chunk(&self, mut pending: Vec<WriteRequest>) -> StoreResult<()> {
        for attempt in 0..MAX_BATCH_ATTEMPTS {
            backoff(attempt).await;
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| error::sdk("BatchWriteItem", e))?;
            pending =
                out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "DynamoDB BatchWriteItem: {} writes still unprocessed after {MAX_BATCH_ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

/// The backoff before resending what DynamoDB left unprocessed: 20 ms, doubling, jittered.
const UNPROCESSED_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(20), Duration::from_millis(1000));

/// Before a batch request's `attempt` (from 0): nothing, then [`UNPROCESSED_BACKOFF`].
pub(crate) async fn backoff(attempt: u32) {
    UNPROCESSED_BACKOFF.sleep(attempt).await;
}
