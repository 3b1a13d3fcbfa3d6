//! Multi-record reads: a thread with a page of its items, the thread list, and the keys of
//! a thread partition.

use aws_sdk_dynamodb::types::AttributeValue;
use chatkit_protocol::{Order, Page, ThreadItem, ThreadMetadata};
use chatkit_store::ids::sort_key;
use chatkit_store::{PageRequest, StoreError, StoreResult, ThreadWithItems, UserId};

use crate::error;
use crate::keys::{self, Key, GSI1, GSI1SK, THREAD_HEAD, THREAD_TAIL};
use crate::records::{self, Item, ThreadPart};
use crate::DynamoStore;

/// A DynamoDB `Limit` for `n` records.
fn query_limit(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Cuts `data` to `limit`, setting `has_more` and `after` exactly.
fn into_page<T>(mut data: Vec<T>, limit: usize, id_of: impl Fn(&T) -> String) -> Page<T> {
    let has_more = data.len() > limit;
    data.truncate(limit);
    let after = if has_more { data.last().map(id_of) } else { None };
    Page { data, has_more, after }
}

impl DynamoStore {
    /// Up to `want` records of a Query, following `LastEvaluatedKey` only when a response
    /// stopped short (1 MB cap); normally one request.
    async fn query_records(
        &self,
        want: usize,
        start: Option<Key>,
        build: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> StoreResult<Vec<Item>> {
        let mut records: Vec<Item> = Vec::new();
        let mut start = start;
        loop {
            let out = build()
                .limit(query_limit(want - records.len()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| error::sdk("Query", e))?;
            records.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() || records.len() >= want {
                return Ok(records);
            }
        }
    }

    /// See [`chatkit_store::Store::load_thread_items`]. One Query of
    /// `sk BETWEEN "#THREAD" AND "~THREAD"` returns the near metadata copy, the page of items
    /// and a look-ahead; without a cursor the metadata is always the first record. A cursor
    /// page meets the far metadata copy only when it reaches the end of the thread; a page
    /// that stops short of it (more than `limit + 1` items left) costs one more request, a
    /// GetItem of the head copy.
    pub(crate) async fn thread_items(
        &self,
        user: &UserId,
        thread_id: &str,
        page: &PageRequest,
    ) -> StoreResult<ThreadWithItems> {
        let ulid = sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let pk = keys::thread_pk(user, ulid);
        let start = match &page.after {
            Some(after) => Some(keys::key(pk.as_str(), keys::item_sk(keys::cursor_ulid(after)?))),
            None => None,
        };
        let from_cursor = start.is_some();
        let want = page.limit.saturating_add(2);
        let records = self
            .query_records(want, start, || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :head AND :tail")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":head", AttributeValue::S(THREAD_HEAD.into()))
                    .expression_attribute_values(":tail", AttributeValue::S(THREAD_TAIL.into()))
                    .scan_index_forward(page.order == Order::Asc)
                    .consistent_read(true)
            })
            .await?;

        let mut thread: Option<ThreadMetadata> = None;
        let mut items: Vec<ThreadItem> = Vec::new();
        let mut first_is_metadata = false;
        for (i, record) in records.into_iter().enumerate() {
            match records::decode_thread_part(ulid, record)? {
                ThreadPart::Deleted => return Err(StoreError::thread_not_found(thread_id)),
                ThreadPart::Metadata(meta) => {
                    first_is_metadata |= i == 0;
                    thread.get_or_insert(meta);
                }
                ThreadPart::Item(item) => items.push(item),
                ThreadPart::Other => {}
            }
        }
        // Without a cursor the near copy must come first: items without it are leftovers of a
        // thread being deleted.
        let thread = match thread {
            Some(meta) if from_cursor || first_is_metadata => meta,
            None if from_cursor && !items.is_empty() => self.thread(user, thread_id).await?,
            _ => return Err(StoreError::thread_not_found(thread_id)),
        };
        let items = into_page(items, page.limit, |i: &ThreadItem| i.id().to_string());
        Ok(ThreadWithItems { thread, items })
    }

    /// The head copy of a thread's metadata: one consistent GetItem.
    pub(crate) async fn thread(
        &self,
        user: &UserId,
        thread_id: &str,
    ) -> StoreResult<ThreadMetadata> {
        let ulid = sort_key(thread_id).ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::thread_pk(user, ulid), THREAD_HEAD)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::sdk("GetItem", e))?;
        let record = out
            .item
            .filter(|r| !records::is_tombstone(r))
            .ok_or_else(|| StoreError::thread_not_found(thread_id))?;
        records::decode_thread(ulid, record)
    }

    /// See [`chatkit_store::Store::list_threads`]: one Query on `gsi1` (eventually
    /// consistent, as every GSI read), projected to the attributes the decode reads.
    pub(crate) async fn threads(
        &self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<ThreadMetadata>> {
        let start = match &page.after {
            Some(after) => Some(keys::thread_list_start_key(user, keys::cursor_ulid(after)?)),
            None => None,
        };
        let user_pk = keys::user_pk(user);
        let want = page.limit.saturating_add(1);
        let records = self
            .query_records(want, start, || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI1)
                    .key_condition_expression("gsi1pk = :u")
                    .expression_attribute_values(":u", AttributeValue::S(user_pk.clone()))
                    // only what the decode reads: the SDK parses less per record
                    .projection_expression("#sk, #json, #json_z, #legacy, #deleted")
                    .expression_attribute_names("#sk", GSI1SK)
                    .expression_attribute_names("#json", records::JSON)
                    .expression_attribute_names("#json_z", records::JSON_Z)
                    .expression_attribute_names("#legacy", records::LEGACY_THREAD)
                    .expression_attribute_names("#deleted", keys::DELETED_AT)
                    .scan_index_forward(page.order == Order::Asc)
            })
            .await?;
        // the index drops a deleted thread's head shortly after its tombstone is written
        let threads = records
            .into_iter()
            .filter(|record| !records::is_tombstone(record))
            .map(|record| {
                let ulid = keys::string_attr(&record, GSI1SK).unwrap_or_default().to_string();
                records::decode_thread(&ulid, record)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(into_page(threads, page.limit, |t: &ThreadMetadata| t.id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_exact() {
        let p = into_page(vec![1, 2, 3], 2, std::string::ToString::to_string);
        assert_eq!((p.data, p.has_more, p.after), (vec![1, 2], true, Some("2".to_string())));
        let p = into_page(vec![1, 2], 2, std::string::ToString::to_string);
        assert_eq!((p.data, p.has_more, p.after), (vec![1, 2], false, None));
    }
}
