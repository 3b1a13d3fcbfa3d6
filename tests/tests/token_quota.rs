//! The daily token quota under concurrency, on DynamoDB Local: many turns of one user start
//! at once at the edge of the quota, each running several model rounds; admission reserves a
//! round's worst case, each further round reserves before it is sent, and the end settles
//! what was used. The day's count never passes the quota.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chatkit_protocol::ThreadStreamEvent;
use chatkit_server::{
    ChatKitError, ChatKitResponse, ChatKitServer, EventSink, RequestContext, Responder,
    StreamError, Turn,
};
use chatkit_store::{UsageLimits, UsageStore, UserId};
use chatkit_tests::dynamo::DynamoHarness;
use futures::StreamExt;
use serde_json::json;

/// A round's worst case, and what a round then really uses.
const ROUND_WORST: u64 = 4_000;
const ROUND_USED: u64 = 3_500;
const ROUNDS: usize = 3;
const DAY: u64 = 40_000;

/// Stands in for the agent: three model rounds, each reserved before it is sent, as
/// `chatkit-agent` does.
#[derive(Default)]
struct Rounds {
    used: AtomicU64,
}

#[async_trait]
impl Responder for Rounds {
    async fn respond(&self, turn: Turn, _events: EventSink) -> Result<(), StreamError> {
        for _ in 0..ROUNDS {
            if !turn.context.tokens.ensure(ROUND_WORST).await {
                return Err(StreamError::custom("today's allowance is used", false));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            turn.context.tokens.add(ROUND_USED);
            self.used.fetch_add(ROUND_USED, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[tokio::test]
async fn concurrent_turns_at_the_edge_never_pass_the_daily_quota() {
    let h = DynamoHarness::new("token-quota").await;
    let store = Arc::new(h.dynamo().clone());
    let rounds = Arc::new(Rounds::default());
    let limits =
        UsageLimits { tokens_per_day: DAY, tokens_per_turn: ROUND_WORST, ..UsageLimits::default() };
    let server =
        ChatKitServer::new(store.clone(), rounds.clone()).with_usage_limits(store.clone(), limits);
    let ada = UserId::new("ada");
    // the user has already used most of the day: room for a few rounds only
    store.add_tokens(&ada, SystemTime::now(), (DAY - 5 * ROUND_WORST) as i64).await.unwrap();

    let turns: Vec<_> = (0..30)
        .map(|i| {
            let body = json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": format!("hi {i}")}],
                "attachments": [], "inference_options": {}}}});
            let (server, body, ada) = (server.clone(), body.to_string(), ada.clone());
            tokio::spawn(async move {
                let context = RequestContext::new(ada, format!("req-{i}"));
                match server.process(body.as_bytes(), context).await {
                    Ok(ChatKitResponse::Stream(events)) => {
                        let events: Vec<ThreadStreamEvent> = events.collect().await;
                        Ok(events)
                    }
                    Ok(ChatKitResponse::Json(v)) => panic!("a stream, not {v}"),
                    Err(err) => Err(err),
                }
            })
        })
        .collect();
    let (mut refused, mut stopped, mut finished) = (0, 0, 0);
    for turn in turns {
        match turn.await.unwrap() {
            Err(ChatKitError::RateLimited { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
            Ok(events) if events.iter().any(|e| matches!(e, ThreadStreamEvent::Error { .. })) => {
                stopped += 1;
            }
            Ok(_) => finished += 1,
        }
    }
    // the settlement of each turn lands when its stream ends; give the last ones a moment
    tokio::time::sleep(Duration::from_millis(300)).await;
    let today = store.usage(&ada, SystemTime::now()).await.unwrap().tokens_today;
    let used = rounds.used.load(Ordering::SeqCst);
    assert!(
        refused > 0 && stopped + finished > 0,
        "{refused} refused, {stopped} stopped, {finished} finished"
    );
    assert!(today <= DAY, "the day's count {today} passed the quota {DAY}");
    assert_eq!(today, DAY - 5 * ROUND_WORST + used, "every turn settled what it used");
    assert!(used <= 5 * ROUND_WORST, "{used} tokens used in the 5 rounds' room");
}
