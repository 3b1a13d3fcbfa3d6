//! The usage counters behind the abuse limits (turns per minute, model tokens per day), run
//! against the in-memory counters and against the DynamoDB store on DynamoDB Local: atomic
//! under concurrency, windowed by UTC minute and day, scoped by user, refusals not counted,
//! and what each call costs in DynamoDB requests.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatkit_store::prelude::*;
use chatkit_store::{Admission, Limit, MemoryUsage, Usage, UsageLimits, UsageStore, UserId};
use chatkit_tests::dynamo::DynamoHarness;

/// 2027-01-15T10:20:30Z: 30 s into a minute, 37 230 s into a day.
fn at(offset_secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 - 1_800_000_000 % 86_400 + 37_230 + offset_secs)
}

fn ada() -> UserId {
    UserId::new("ada@example.com")
}

fn limits(turns: u64, tokens: u64) -> UsageLimits {
    UsageLimits { turns_per_minute: turns, tokens_per_day: tokens, ..UsageLimits::default() }
}

async fn turns_per_minute_are_counted_and_refused(store: &dyn UsageStore) {
    let l = limits(3, 0);
    for _ in 0..3 {
        assert_eq!(store.admit_turn(&ada(), at(0), &l).await.unwrap(), Admission::Admitted);
    }
    let refused = store.admit_turn(&ada(), at(5), &l).await.unwrap();
    assert_eq!(
        refused,
        Admission::Refused { limit: Limit::TurnsPerMinute, retry_after: Duration::from_secs(25) }
    );
    assert_eq!(
        store.usage(&ada(), at(5)).await.unwrap().turns_this_minute,
        3,
        "a refusal is not counted"
    );
    // another user, and the same user in the next minute, start from zero
    assert_eq!(
        store.admit_turn(&UserId::new("bob"), at(5), &l).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(store.admit_turn(&ada(), at(30), &l).await.unwrap(), Admission::Admitted);
    assert_eq!(store.usage(&ada(), at(30)).await.unwrap().turns_this_minute, 1);
}

async fn tokens_per_day_refuse_the_next_turn(store: &dyn UsageStore) {
    let l = limits(0, 1000);
    assert_eq!(store.admit_turn(&ada(), at(0), &l).await.unwrap(), Admission::Admitted);
    store.add_tokens(&ada(), at(1), 600).await.unwrap();
    assert_eq!(store.admit_turn(&ada(), at(2), &l).await.unwrap(), Admission::Admitted);
    store.add_tokens(&ada(), at(3), 450).await.unwrap();
    let refused = store.admit_turn(&ada(), at(4), &l).await.unwrap();
    let day_left = Duration::from_secs(86_400 - 37_230 - 4);
    assert_eq!(refused, Admission::Refused { limit: Limit::TokensPerDay, retry_after: day_left });
    assert_eq!(
        store.usage(&ada(), at(4)).await.unwrap(),
        Usage { turns_this_minute: 0, tokens_today: 1050 }
    );
    // the next UTC day starts over
    let tomorrow = at(86_400 - 37_230 + 1);
    assert_eq!(store.admit_turn(&ada(), tomorrow, &l).await.unwrap(), Admission::Admitted);
    assert_eq!(store.usage(&ada(), tomorrow).await.unwrap().tokens_today, 0);
}

async fn both_limits_together(store: &dyn UsageStore) {
    let l = limits(2, 100);
    assert_eq!(store.admit_turn(&ada(), at(0), &l).await.unwrap(), Admission::Admitted);
    assert_eq!(store.admit_turn(&ada(), at(0), &l).await.unwrap(), Admission::Admitted);
    assert!(matches!(
        store.admit_turn(&ada(), at(0), &l).await.unwrap(),
        Admission::Refused { limit: Limit::TurnsPerMinute, .. }
    ));
    store.add_tokens(&ada(), at(1), 100).await.unwrap();
    // in the next minute the turns are fine, but the day's tokens are spent
    assert!(matches!(
        store.admit_turn(&ada(), at(40), &l).await.unwrap(),
        Admission::Refused { limit: Limit::TokensPerDay, .. }
    ));
    assert_eq!(
        store.usage(&ada(), at(40)).await.unwrap().turns_this_minute,
        0,
        "the refused turn was not counted"
    );
    // limits off: always admitted, nothing counted
    assert_eq!(store.admit_turn(&ada(), at(40), &limits(0, 0)).await.unwrap(), Admission::Admitted);

    // a turn refused for the minute reserves none of the day's tokens
    let bob = UserId::new("bob@example.com");
    let l = UsageLimits { tokens_per_turn: 300, ..limits(1, 1_000) };
    assert_eq!(store.admit_turn(&bob, at(0), &l).await.unwrap(), Admission::Admitted);
    assert!(matches!(
        store.admit_turn(&bob, at(0), &l).await.unwrap(),
        Admission::Refused { limit: Limit::TurnsPerMinute, .. }
    ));
    assert_eq!(
        store.usage(&bob, at(0)).await.unwrap(),
        Usage { turns_this_minute: 1, tokens_today: 300 },
        "the refused turn's reservation was taken back"
    );
}

/// Admits `attempts` turns of ada at once; how many were admitted.
async fn admit_at_once(store: &Arc<dyn UsageStore>, l: UsageLimits, attempts: usize) -> usize {
    let attempts: Vec<_> = (0..attempts)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.admit_turn(&ada(), at(0), &l).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for attempt in attempts {
        if attempt.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    admitted
}

async fn concurrent_turns_never_exceed_the_limit(store: Arc<dyn UsageStore>) {
    assert_eq!(admit_at_once(&store, limits(5, 1_000_000), 20).await, 5);
    assert_eq!(store.usage(&ada(), at(0)).await.unwrap().turns_this_minute, 5);
}

async fn reservations_hold_the_day_under_concurrency(store: Arc<dyn UsageStore>) {
    let l =
        UsageLimits { tokens_per_day: 10_000, tokens_per_turn: 3_000, ..UsageLimits::default() };
    assert_eq!(
        admit_at_once(&store, l, 20).await,
        3,
        "3 × 3 000 fit in 10 000, a fourth would not"
    );
    assert_eq!(store.usage(&ada(), at(0)).await.unwrap().tokens_today, 9_000);
    // a further round: what fits is granted, then nothing more
    assert!(store.reserve_tokens(&ada(), at(1), 1_000, &l).await.unwrap());
    assert!(!store.reserve_tokens(&ada(), at(1), 1, &l).await.unwrap());
    assert!(!store.reserve_tokens(&ada(), at(1), 20_000, &l).await.unwrap());
    assert!(matches!(
        store.admit_turn(&ada(), at(2), &l).await.unwrap(),
        Admission::Refused { limit: Limit::TokensPerDay, .. }
    ));
    // the turns end having used less than they reserved: the rest comes back
    store.add_tokens(&ada(), at(2), -4_000).await.unwrap();
    assert_eq!(store.usage(&ada(), at(2)).await.unwrap().tokens_today, 6_000);
    assert_eq!(store.admit_turn(&ada(), at(3), &l).await.unwrap(), Admission::Admitted);
    assert_eq!(store.usage(&ada(), at(3)).await.unwrap().tokens_today, 9_000);
    // a reservation larger than the day is capped at the day
    let big = UsageLimits { tokens_per_turn: 50_000, ..l };
    assert_eq!(big.reservation(), 10_000);
}

/// Turns in flight: at most the cap hold a slot at once, however many try together; a freed
/// slot is taken again; a slot held past its time is free (a crashed turn keeps none); only
/// the turn holding a slot frees it.
async fn turns_in_flight_are_capped(store: Arc<dyn UsageStore>) {
    let l = UsageLimits { turns_in_flight: 3, ..UsageLimits::default() };
    let until = at(120);
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let turn = format!("req-{i}");
                let slot = store.claim_turn(&ada(), &turn, at(0), until, &l).await.unwrap();
                slot.map(|slot| (slot, turn))
            })
        })
        .collect();
    let mut held = Vec::new();
    for attempt in attempts {
        held.extend(attempt.await.unwrap());
    }
    assert_eq!(held.len(), 3, "{held:?}");
    let mut slots: Vec<u32> = held.iter().map(|(slot, _)| *slot).collect();
    slots.sort_unstable();
    assert_eq!(slots, [0, 1, 2]);
    assert_eq!(store.claim_turn(&ada(), "late", at(1), until, &l).await.unwrap(), None);
    // another user has their own slots
    assert!(store.claim_turn(&UserId::new("bob"), "b", at(1), until, &l).await.unwrap().is_some());
    // a turn that does not hold the slot cannot free it; the holder can
    let (slot, turn) = held[0].clone();
    store.release_turn(&ada(), slot, "someone-else").await.unwrap();
    assert_eq!(store.claim_turn(&ada(), "late", at(2), until, &l).await.unwrap(), None);
    store.release_turn(&ada(), slot, &turn).await.unwrap();
    assert_eq!(store.claim_turn(&ada(), "next", at(3), until, &l).await.unwrap(), Some(slot));
    // past their time, held slots are free again
    assert!(store.claim_turn(&ada(), "after", at(121), at(240), &l).await.unwrap().is_some());
}

/// Attachments per day and pending: refusals are not counted; sent or deleted attachments
/// stop counting as pending (on the day they were made), never below zero.
async fn attachments_are_metered(store: &dyn UsageStore) {
    let l =
        UsageLimits { attachments_per_day: 5, pending_attachments: 2, ..UsageLimits::default() };
    let user = ada();
    let admit = |t| store.admit_attachment(&user, at(t), &l);
    assert_eq!(admit(0).await.unwrap(), Admission::Admitted);
    assert_eq!(admit(1).await.unwrap(), Admission::Admitted);
    let day_left = Duration::from_secs(86_400 - 37_230 - 2);
    assert_eq!(
        admit(2).await.unwrap(),
        Admission::Refused { limit: Limit::PendingAttachments, retry_after: day_left }
    );
    store.attachments_settled(&ada(), at(0), 2).await.unwrap();
    for t in 3..6 {
        assert_eq!(admit(t).await.unwrap(), Admission::Admitted, "at {t}");
        store.attachments_settled(&ada(), at(0), 1).await.unwrap();
    }
    // 5 made today (the refusal was not counted): the day is spent, whatever is pending
    assert!(matches!(
        admit(10).await.unwrap(),
        Admission::Refused { limit: Limit::AttachmentsPerDay, .. }
    ));
    // settling more than is pending changes nothing (never below zero)
    store.attachments_settled(&ada(), at(0), 7).await.unwrap();
    let bob = UserId::new("bob");
    let tight = UsageLimits { pending_attachments: 1, ..UsageLimits::default() };
    store.attachments_settled(&bob, at(0), 3).await.unwrap();
    assert_eq!(store.admit_attachment(&bob, at(0), &tight).await.unwrap(), Admission::Admitted);
    assert!(matches!(
        store.admit_attachment(&bob, at(1), &tight).await.unwrap(),
        Admission::Refused { limit: Limit::PendingAttachments, .. }
    ));
    // the next day starts from zero
    assert_eq!(store.admit_attachment(&ada(), at(86_400), &l).await.unwrap(), Admission::Admitted);
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn in_flight() {
        turns_in_flight_are_capped(Arc::new(MemoryUsage::new())).await;
    }

    #[tokio::test]
    async fn attachments() {
        attachments_are_metered(&MemoryUsage::new()).await;
    }

    #[tokio::test]
    async fn reservations() {
        reservations_hold_the_day_under_concurrency(Arc::new(MemoryUsage::new())).await;
    }

    #[tokio::test]
    async fn turns_per_minute() {
        turns_per_minute_are_counted_and_refused(&MemoryUsage::new()).await;
    }

    #[tokio::test]
    async fn tokens_per_day() {
        tokens_per_day_refuse_the_next_turn(&MemoryUsage::new()).await;
    }

    #[tokio::test]
    async fn both() {
        both_limits_together(&MemoryUsage::new()).await;
    }

    #[tokio::test]
    async fn concurrency() {
        concurrent_turns_never_exceed_the_limit(Arc::new(MemoryUsage::new())).await;
    }
}

mod dynamodb {
    use super::*;

    #[tokio::test]
    async fn in_flight() {
        let h = DynamoHarness::new("usage-in-flight").await;
        turns_in_flight_are_capped(Arc::new(h.dynamo().clone())).await;
    }

    #[tokio::test]
    async fn attachments() {
        attachments_are_metered(DynamoHarness::new("usage-attachments").await.dynamo()).await;
    }

    #[tokio::test]
    async fn turns_per_minute() {
        turns_per_minute_are_counted_and_refused(DynamoHarness::new("usage-turns").await.dynamo())
            .await;
    }

    #[tokio::test]
    async fn tokens_per_day() {
        tokens_per_day_refuse_the_next_turn(DynamoHarness::new("usage-tokens").await.dynamo())
            .await;
    }

    #[tokio::test]
    async fn both() {
        both_limits_together(DynamoHarness::new("usage-both").await.dynamo()).await;
    }

    #[tokio::test]
    async fn reservations() {
        let h = DynamoHarness::new("usage-reservations").await;
        reservations_hold_the_day_under_concurrency(Arc::new(h.dynamo().clone())).await;
    }

    #[tokio::test]
    async fn concurrency() {
        let h = DynamoHarness::new("usage-concurrency").await;
        concurrent_turns_never_exceed_the_limit(Arc::new(h.dynamo().clone())).await;
    }

    /// Admission with both limits is two requests sent together, with one limit one request,
    /// recording tokens one request; the counters live in the user's own partition, with a TTL.
    #[tokio::test]
    async fn requests_keys_and_expiry() {
        let h = DynamoHarness::new("usage-requests").await;
        let store = h.dynamo();
        let before = store.request_count();
        store.admit_turn(&ada(), at(0), &limits(5, 100)).await.unwrap();
        assert_eq!(store.request_count() - before, 2);
        store.admit_turn(&ada(), at(0), &limits(5, 0)).await.unwrap();
        store.admit_turn(&ada(), at(0), &limits(0, 100)).await.unwrap();
        assert_eq!(store.request_count() - before, 4);
        store.add_tokens(&ada(), at(0), 42).await.unwrap();
        assert_eq!(store.request_count() - before, 5);
        store.admit_turn(&ada(), at(0), &limits(0, 0)).await.unwrap();
        store.add_tokens(&ada(), at(0), 0).await.unwrap();
        assert_eq!(store.request_count() - before, 5, "nothing to check or add: no request");

        let records = h.scan().await;
        assert_eq!(records.len(), 2, "{records:?}");
        for record in &records {
            assert_eq!(record["pk"].as_s().unwrap(), "U#ada@example.com#Q");
            let expires: u64 = record["expires_at"].as_n().unwrap().parse().unwrap();
            assert!(expires > at(0).duration_since(UNIX_EPOCH).unwrap().as_secs());
        }
    }
}
