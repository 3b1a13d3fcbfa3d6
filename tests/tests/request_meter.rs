//! Each request counts its own DynamoDB requests, on its own context: two requests served
//! concurrently by one process (local HTTP mode) each report what they made alone, never
//! each other's calls; a streamed turn's count includes the tasks it spawned.

use chatkit_server::{ChatKitResponse, RequestContext};
use chatkit_store::meter::RequestMeter;
use chatkit_store::UserId;
use chatkit_tests::server::{create_body, Server};
use futures::StreamExt;
use serde_json::{json, Value};

/// Serves `body` as `user` in the scope of a fresh meter (as the gateway does) and returns
/// the DynamoDB requests it counted, the stream read to its end.
async fn metered(s: &Server, user: &str, body: &Value) -> u64 {
    let meter = RequestMeter::new();
    let bytes = serde_json::to_vec(body).unwrap();
    let context = RequestContext::new(UserId::new(user), "req-meter");
    match meter.scope(s.server.process(&bytes, context)).await.unwrap() {
        ChatKitResponse::Json(_) => {}
        ChatKitResponse::Stream(events) => drop(events.collect::<Vec<_>>().await),
    }
    s.server.drain(std::time::Duration::from_secs(5)).await;
    meter.read().store_requests
}

#[tokio::test]
async fn concurrent_requests_each_report_their_own_count() {
    let s = Server::new("request-meter").await;
    s.create("reader", "a thread to list").await;
    let list = json!({"type": "threads.list", "params": {"limit": 20}});
    let list_alone = metered(&s, "reader", &list).await;
    let create_alone = metered(&s, "writer", &create_body("first alone")).await;
    assert!(list_alone >= 1, "a list reads the table: {list_alone}");
    assert!(create_alone > list_alone, "a turn writes more than a list reads: {create_alone}");
    for round in 0..5 {
        let create = create_body(&format!("concurrent {round}"));
        let (list_count, create_count) =
            tokio::join!(metered(&s, "reader", &list), metered(&s, "writer", &create));
        assert_eq!(list_count, list_alone, "round {round}: the list counted only its own calls");
        assert_eq!(create_count, create_alone, "round {round}: the turn counted only its own");
    }
}
