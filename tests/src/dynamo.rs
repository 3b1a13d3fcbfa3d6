//! DynamoDB Local helpers: a harness with its own table per test, a table scan as the
//! snapshot, and the cases only the DynamoDB store has (TTL, request counts).
//!
//! The endpoint comes from `AWS_ENDPOINT_URL_DYNAMODB`, which `scripts/with-dynamodb.sh`
//! (and so `make test`) sets; without it these tests fail, they never pass silently.

use chatkit_store::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chatkit_dynamodb::{create_table, DynamoStore};
use chatkit_protocol::{FeedbackKind, Order, ThreadMetadata};
use chatkit_store::ids::new_id;
use chatkit_store::{PageRequest, Store};

use crate::contract::*;

/// Env var with the DynamoDB Local endpoint.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_DYNAMODB";

/// A [`DynamoStore`] on a fresh table of DynamoDB Local.
pub struct DynamoHarness {
    store: DynamoStore,
    /// A client without the request counter, for scans.
    raw: Client,
    table: String,
    sdk: aws_config::SdkConfig,
}

impl DynamoHarness {
    /// A store on a new table named after `case`, without retention.
    pub async fn new(case: &str) -> Self {
        Self::with_retention(case, None).await
    }

    /// A store on a new table named after `case`, with the given retention.
    pub async fn with_retention(case: &str, retention: Option<Duration>) -> Self {
        let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_default();
        assert!(
            !endpoint.is_empty(),
            "{ENDPOINT_ENV} is not set: the DynamoDB store tests need DynamoDB Local. Run them with \
             `make test`, or `scripts/with-dynamodb.sh cargo test -p chatkit-tests --test store_contract`."
        );
        // The SDK takes the endpoint from the environment, as the Lambda functions do.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let table = format!("contract-{case}-{}", new_id("t").to_lowercase()).replace('_', "-");
        let raw = Client::new(&sdk);
        create_table(&raw, &table).await.expect("create_table on DynamoDB Local");
        create_table(&raw, &table).await.expect("create_table is idempotent");
        let store = DynamoStore::new(&sdk, &table).with_retention(retention);
        Self { store, raw, table, sdk }
    }

    pub fn dynamo(&self) -> &DynamoStore {
        &self.store
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The table's stream as Lambda would deliver it: every record from the start, in order,
    /// as a DynamoDB event (the JSON a stream event source mapping sends).
    pub async fn stream_event(&self) -> aws_lambda_events::event::dynamodb::Event {
        use aws_sdk_dynamodbstreams::types::ShardIteratorType;
        let described =
            self.raw.describe_table().table_name(&self.table).send().await.expect("describe table");
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("the table has a stream")
            .to_string();
        let endpoint = std::env::var(ENDPOINT_ENV).unwrap_or_default();
        let conf = aws_sdk_dynamodbstreams::config::Builder::from(&self.sdk)
            .endpoint_url(endpoint)
            .build();
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(conf);
        let stream =
            streams.describe_stream().stream_arn(&arn).send().await.expect("describe stream");
        let shards = stream.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let Some(shard_id) = shard.shard_id() else { continue };
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("shard iterator")
                .shard_iterator;
            while let Some(it) = iterator {
                let out =
                    streams.get_records().shard_iterator(it).send().await.expect("get records");
                if out.records().is_empty() {
                    break;
                }
                records.extend(out.records().iter().map(|r| lambda_record(r, &arn)));
                iterator = out.next_shard_iterator;
            }
        }
        serde_json::from_value(serde_json::json!({ "Records": records }))
            .expect("a Lambda DynamoDB event")
    }

    /// Runs thread cleanup on the whole stream so far, as `functions/cleanup` would (records
    /// cleaned up before are simply cleaned up again: it is idempotent). Panics if cleanup
    /// reports a failure.
    pub async fn run_cleanup(&self) -> chatkit_cleanup::ThreadCleanup {
        let cleanup = chatkit_cleanup::ThreadCleanup::new(self.store.clone());
        let response = cleanup.handle(self.stream_event().await).await;
        assert!(response.batch_item_failures.is_empty(), "cleanup failed: {response:?}");
        cleanup
    }

    /// Every record of the table (a full Scan, not counted).
    pub async fn scan(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .raw
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            records.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return records;
            }
        }
    }
}

/// A stable text form of an attribute value (map keys sorted).
fn render(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => format!("{s:?}"),
        AttributeValue::N(n) => n.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null(_) => "null".to_string(),
        AttributeValue::L(list) => {
            format!("[{}]", list.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        AttributeValue::M(map) => render_map(map),
        other => format!("{other:?}"),
    }
}

fn render_map(map: &HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, render(v))).collect();
    let fields: Vec<String> = sorted.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", fields.join(", "))
}

#[async_trait]
impl StoreHarness for DynamoHarness {
    fn store(&self) -> &dyn Store {
        &self.store
    }

    /// Thread cleanup over the table's stream.
    async fn settle(&self) {
        self.run_cleanup().await;
    }

    /// The table scan, one record per line, sorted.
    async fn snapshot(&self) -> String {
        let mut lines: Vec<String> = self.scan().await.iter().map(render_map).collect();
        lines.sort();
        lines.join("\n")
    }
}

fn epoch_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Writes one record of every kind (thread copies, items, feedback, attachment).
async fn write_every_kind(h: &DynamoHarness) {
    let store = h.store();
    let thread = new_thread();
    let items = vec![user_message(&thread, "q"), assistant_message(&thread, "a")];
    store.create_thread(&alice(), &thread, &items[..1]).await.unwrap();
    store.save_item(&alice(), &thread.id, &items[1]).await.unwrap();
    store
        .save_thread(&alice(), &ThreadMetadata { title: Some("t".into()), ..thread.clone() })
        .await
        .unwrap();
    store
        .save_feedback(&alice(), &thread.id, &ids_of(&items), FeedbackKind::Positive)
        .await
        .unwrap();
    store.save_attachment(&alice(), &crate::contract::file_attachment()).await.unwrap();
}

/// With a retention every record carries `expires_at` = now + retention; without, none.
pub async fn retention_sets_expires_at(
    with: &DynamoHarness,
    without: &DynamoHarness,
    retention: Duration,
) {
    let ttl = with
        .raw
        .describe_time_to_live()
        .table_name(&with.table)
        .send()
        .await
        .expect("describe TTL");
    let ttl = ttl.time_to_live_description().expect("TTL description");
    assert_eq!(ttl.attribute_name(), Some("expires_at"), "create_table enables TTL on expires_at");
    assert_eq!(
        ttl.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );

    let start = epoch_now();
    write_every_kind(with).await;
    let end = epoch_now();
    let records = with.scan().await;
    assert_eq!(records.len(), 2 + 2 + 1, "thread copies, items (feedback on them), attachment");
    for record in &records {
        let expires: u64 = match record.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => {
                panic!("expires_at missing or not a number ({other:?}) in {}", render_map(record))
            }
        };
        let range = start + retention.as_secs()..=end + retention.as_secs() + 1;
        assert!(range.contains(&expires), "expires_at {expires} outside {range:?}");
    }

    write_every_kind(without).await;
    let records = without.scan().await;
    assert_eq!(records.len(), 5);
    assert!(records.iter().all(|r| !r.contains_key("expires_at")), "no retention, no expires_at");
}

/// A new item refreshes the thread's TTL (both metadata copies), so an active thread outlives
/// the retention counted from its creation; a write into a missing thread still fails.
pub async fn item_writes_keep_the_thread_alive(short: &DynamoHarness, retention: Duration) {
    let store = short.store();
    let thread = new_thread();
    store.create_thread(&alice(), &thread, &[user_message(&thread, "q")]).await.unwrap();
    // the same table, written later by a store with a longer retention: stands for "time passed"
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let later = DynamoStore::new(&sdk, &short.table).with_retention(Some(retention));
    let start = epoch_now();
    later.save_item(&alice(), &thread.id, &assistant_message(&thread, "a")).await.unwrap();
    let metadata: Vec<u64> = short
        .scan()
        .await
        .iter()
        .filter(|r| matches!(r.get("sk"), Some(AttributeValue::S(sk)) if sk.ends_with("THREAD")))
        .map(|r| match r.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => panic!("metadata without expires_at: {other:?}"),
        })
        .collect();
    assert_eq!(metadata.len(), 2, "head and tail copies");
    for expires in metadata {
        assert!(
            expires >= start + retention.as_secs(),
            "thread TTL refreshed by the item write: {expires}"
        );
    }
    let missing = new_thread();
    let err = later
        .save_item(&alice(), &missing.id, &assistant_message(&missing, "a"))
        .await
        .unwrap_err();
    assert!(matches!(err, chatkit_store::StoreError::NotFound { .. }), "{err}");
}

/// Runs `op` and returns how many DynamoDB requests it made.
macro_rules! requests {
    ($store:expr, $op:expr) => {{
        let before = $store.request_count();
        $op.await.unwrap();
        $store.request_count() - before
    }};
}

/// Exact request counts per operation.
pub async fn request_counts(h: &DynamoHarness) {
    let store = h.dynamo();
    let user = alice();
    let thread = new_thread();
    let first = user_message(&thread, "q");
    assert_eq!(
        requests!(store, store.create_thread(&user, &thread, std::slice::from_ref(&first))),
        1
    );
    assert_eq!(requests!(store, store.save_thread(&user, &thread)), 1);
    let mut items = vec![first.clone()];
    for i in 0..29 {
        let item = assistant_message(&thread, &format!("a{i}"));
        assert_eq!(requests!(store, store.save_item(&user, &thread.id, &item)), 1);
        items.push(item);
    }
    assert_eq!(requests!(store, store.load_thread(&user, &thread.id)), 1);
    assert_eq!(requests!(store, store.load_item(&user, &thread.id, items[3].id())), 1);
    assert_eq!(requests!(store, store.list_threads(&user, &PageRequest::new(10, Order::Desc))), 1);
    let next = PageRequest::new(1, Order::Asc).after(Some(new_id("thr")));
    assert_eq!(requests!(store, store.list_threads(&user, &next)), 1);

    for order in [Order::Asc, Order::Desc] {
        let first_page = PageRequest::new(10, order);
        assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &first_page)), 1);
    }
    // A cursor page reaching the end of the thread meets the far metadata copy: 1 request.
    let last_page = PageRequest::new(10, Order::Asc).after(Some(items[19].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &last_page)), 1);
    let last_page = PageRequest::new(10, Order::Desc).after(Some(items[10].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &last_page)), 1);
    // One stopping short of it (more than limit + 1 items left) adds a GetItem: 2.
    let middle = PageRequest::new(10, Order::Desc).after(Some(items[25].id().to_string()));
    assert_eq!(requests!(store, store.load_thread_items(&user, &thread.id, &middle)), 2);

    let rated = ids_of(&items[..2]);
    assert_eq!(
        requests!(store, store.save_feedback(&user, &thread.id, &rated, FeedbackKind::Negative)),
        1
    );
    let most = ids_of(&items[..30.min(chatkit_store::MAX_FEEDBACK_ITEMS)]);
    assert_eq!(
        requests!(store, store.save_feedback(&user, &thread.id, &most, FeedbackKind::Positive)),
        1
    );
    let attachment = crate::contract::file_attachment();
    assert_eq!(requests!(store, store.save_attachment(&user, &attachment)), 1);
    assert_eq!(requests!(store, store.load_attachment(&user, attachment.id())), 1);
    assert_eq!(requests!(store, store.delete_attachment(&user, attachment.id())), 1);

    // delete_thread: 1 TransactWriteItems (the tombstone on both metadata copies). Cleanup of
    // 30 items (feedback lives on them) and the tail: 1 Query of the partition's keys,
    // ⌈31 / 25⌉ = 2 BatchWriteItem, 1 DeleteItem of the head: 4.
    assert_eq!(requests!(store, store.delete_thread(&user, &thread.id)), 1);
    let before = store.request_count();
    h.run_cleanup().await;
    assert_eq!(store.request_count() - before, 4);
    assert_eq!(h.scan().await.len(), 0);

    // delete_items: ⌈n / 25⌉ BatchWriteItem.
    let other = new_thread();
    store.create_thread(&user, &other, &[]).await.unwrap();
    let ids: Vec<String> = (0..26).map(|_| new_id("msg")).collect();
    assert_eq!(requests!(store, store.delete_items(&user, &other.id, &ids)), 2);
}

/// Deterministic incompressible text (xorshift over printable ASCII).
pub fn noise(len: usize) -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect()
}

/// A JSON value nested `depth` levels deep, with the numbers and empty values DynamoDB's own
/// types cannot hold (1e300, 1e-300, empty sets).
pub fn deep_value(depth: usize) -> serde_json::Value {
    let mut value = serde_json::json!({"huge": 1e300, "tiny": -1e-300, "big": u64::MAX, "empty": "", "none": [], "nil": null, "obj": {}});
    for i in 0..depth {
        value = serde_json::json!({ format!("level{i}"): [value] });
    }
    value
}

/// Items past DynamoDB's own limits are stored so that they fit: a 2 MB reply (over the
/// 400 KB item limit as text), a tool output nested 40 levels deep (DynamoDB maps stop at
/// 32) with numbers outside DynamoDB's range. What cannot fit even compressed is refused
/// with `TooLarge`, and nothing is written.
pub async fn items_beyond_dynamodb_limits_fit(h: &DynamoHarness) {
    use chatkit_protocol::{ClientToolCallItem, ThreadItem, ToolCallStatus};
    let store = h.store();
    let thread = new_thread();
    store.create_thread(&alice(), &thread, &[user_message(&thread, "q")]).await.unwrap();

    let long =
        assistant_message(&thread, &"All work and no play makes Jack a dull boy. ".repeat(48_000));
    assert!(serde_json::to_vec(&long).unwrap().len() > 2_000_000);
    store.save_item(&alice(), &thread.id, &long).await.unwrap();
    assert_eq!(store.load_item(&alice(), &thread.id, long.id()).await.unwrap(), long);

    let call = ThreadItem::ClientToolCall(ClientToolCallItem {
        id: new_id("tc"),
        thread_id: thread.id.clone(),
        created_at: chatkit_protocol::timestamp::now(),
        status: ToolCallStatus::Completed,
        call_id: "call_deep".into(),
        name: "dump".into(),
        arguments: serde_json::Map::new(),
        output: Some(deep_value(40)),
    });
    store.save_item(&alice(), &thread.id, &call).await.unwrap();
    assert_eq!(store.load_item(&alice(), &thread.id, call.id()).await.unwrap(), call);

    let page = store
        .load_thread_items(&alice(), &thread.id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(page.items.data.len(), 3);
    assert_eq!(page.items.data[1], long);
    assert_eq!(page.items.data[2], call);

    let before = h.snapshot().await;
    let noisy = assistant_message(&thread, &noise(600_000));
    match store.save_item(&alice(), &thread.id, &noisy).await {
        Err(chatkit_store::StoreError::TooLarge { what: "item", size, limit }) => {
            assert!(size > limit);
        }
        other => panic!("an item that cannot fit: {other:?}"),
    }
    assert_eq!(h.snapshot().await, before, "nothing written");
}

/// Records written by the first storage format (the payload as a nested map attribute) are
/// still read.
pub async fn first_format_records_are_read(h: &DynamoHarness) {
    use serde_json::json;
    let thread_id = new_id("thr");
    let ulid = chatkit_store::ids::sort_key(&thread_id).unwrap().to_string();
    let item_id = new_id("msg");
    let item_ulid = chatkit_store::ids::sort_key(&item_id).unwrap().to_string();
    let pk = format!("U#alice#T#{ulid}");
    let thread = json!({"id": thread_id, "created_at": "2025-01-01T00:00:00Z", "status": {"type": "active"}, "metadata": {}});
    let item = json!({"id": item_id, "thread_id": thread_id, "created_at": "2025-01-01T00:00:01Z", "type": "assistant_message",
        "content": [{"type": "output_text", "text": "from the first format", "annotations": []}]});
    let records = [
        json!({"pk": pk, "sk": "#THREAD", "gsi1pk": "U#alice", "gsi1sk": ulid, "thread": thread}),
        json!({"pk": pk, "sk": "~THREAD", "thread": thread}),
        json!({"pk": pk, "sk": format!("I#{item_ulid}"), "item": item}),
    ];
    for record in records {
        let record: HashMap<String, AttributeValue> = serde_dynamo::to_item(record).unwrap();
        h.raw.put_item().table_name(&h.table).set_item(Some(record)).send().await.unwrap();
    }
    let loaded = h
        .store()
        .load_thread_items(&alice(), &thread_id, &PageRequest::new(10, Order::Asc))
        .await
        .unwrap();
    assert_eq!(loaded.thread.id, thread_id);
    assert_eq!(serde_json::to_value(&loaded.items.data).unwrap(), json!([item]));
    // and written in the current format from then on
    let mut renamed = loaded.thread.clone();
    renamed.title = Some("renamed".into());
    h.store().save_thread(&alice(), &renamed).await.unwrap();
    assert_eq!(h.store().load_thread(&alice(), &thread_id).await.unwrap(), renamed);
}

/// A DynamoDB Streams attribute value as the JSON Lambda delivers.
fn lambda_value(value: &aws_sdk_dynamodbstreams::types::AttributeValue) -> serde_json::Value {
    use aws_sdk_dynamodbstreams::types::AttributeValue as A;
    use base64::Engine;
    use serde_json::json;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        A::S(s) => json!({"S": s}),
        A::N(n) => json!({"N": n}),
        A::B(b) => json!({"B": b64(b)}),
        A::Ss(v) => json!({"SS": v}),
        A::Ns(v) => json!({"NS": v}),
        A::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        A::Bool(b) => json!({"BOOL": b}),
        A::Null(n) => json!({"NULL": n}),
        A::L(l) => json!({"L": l.iter().map(lambda_value).collect::<Vec<_>>()}),
        A::M(m) => json!({"M": lambda_image(m)}),
        other => panic!("unexpected attribute value {other:?}"),
    }
}

fn lambda_image(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> serde_json::Value {
    serde_json::Value::Object(image.iter().map(|(k, v)| (k.clone(), lambda_value(v))).collect())
}

/// A stream record as Lambda delivers it to a DynamoDB event source.
fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> serde_json::Value {
    let change = record.dynamodb().expect("a stream record");
    let empty = HashMap::new();
    serde_json::json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(aws_sdk_dynamodbstreams::types::OperationType::as_str).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time().map(aws_sdk_dynamodb::primitives::DateTime::secs).unwrap_or_default(),
            "Keys": lambda_image(change.keys().unwrap_or(&empty)),
            "NewImage": lambda_image(change.new_image().unwrap_or(&empty)),
            "SequenceNumber": change.sequence_number(),
            "SizeBytes": change.size_bytes().unwrap_or_default(),
            "StreamViewType": "NEW_IMAGE",
        },
    })
}
