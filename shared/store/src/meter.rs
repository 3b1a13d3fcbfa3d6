//! What one request made the backends do, counted on the request's own context: each request
//! runs in the scope of its own [`RequestMeter`] (a task-local, carried into the tasks it
//! spawns through [`spawn`]), and the backends' SDK interceptors record into the meter in
//! scope. Concurrent requests in one process (local HTTP mode) never count each other's calls.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static METER: Arc<RequestMeter>;
}

/// One request's backend calls: DynamoDB request attempts and their time, S3 requests.
#[derive(Debug, Default)]
pub struct RequestMeter {
    store_requests: AtomicU64,
    store_micros: AtomicU64,
    blob_requests: AtomicU64,
}

/// A reading of a [`RequestMeter`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    /// DynamoDB (or other store backend) request attempts, retries included.
    pub store_requests: u64,
    /// Their time added up, in microseconds.
    pub store_micros: u64,
    /// S3 (attachment bytes) requests.
    pub blob_requests: u64,
}

impl RequestMeter {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Runs `future` with this meter in scope.
    pub fn scope<F: Future>(self: &Arc<Self>, future: F) -> impl Future<Output = F::Output> {
        METER.scope(self.clone(), future)
    }

    /// What was recorded so far.
    pub fn read(&self) -> Metered {
        Metered {
            store_requests: self.store_requests.load(Ordering::Relaxed),
            store_micros: self.store_micros.load(Ordering::Relaxed),
            blob_requests: self.blob_requests.load(Ordering::Relaxed),
        }
    }
}

/// The meter of the request being served, if any.
pub fn current() -> Option<Arc<RequestMeter>> {
    METER.try_with(Arc::clone).ok()
}

/// Records one store request attempt in the current request's meter (none: nothing).
pub fn record_store_request() {
    let _ = METER.try_with(|m| m.store_requests.fetch_add(1, Ordering::Relaxed));
}

/// Records the time of one store request attempt.
pub fn record_store_micros(micros: u64) {
    let _ = METER.try_with(|m| m.store_micros.fetch_add(micros, Ordering::Relaxed));
}

/// Records one attachment-bytes (S3) request.
pub fn record_blob_request() {
    let _ = METER.try_with(|m| m.blob_requests.fetch_add(1, Ordering::Relaxed));
}

/// `future` in the current request's meter scope, when there is one.
pub fn in_current_scope<F>(future: F) -> impl Future<Output = F::Output>
where
    F: Future,
{
    let meter = current();
    async move {
        match meter {
            Some(meter) => meter.scope(future).await,
            None => future.await,
        }
    }
}

/// `tokio::spawn` that keeps counting for the request that spawned the task.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(in_current_scope(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_request_counts_its_own_calls_and_its_spawned_tasks() {
        let (a, b) = (RequestMeter::new(), RequestMeter::new());
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let run = |meter: Arc<RequestMeter>, calls: u64, gate: Arc<tokio::sync::Barrier>| {
            meter.clone().scope(async move {
                for i in 0..calls {
                    if i == 1 {
                        gate.wait().await; // both requests are in flight together
                    }
                    record_store_request();
                    tokio::task::yield_now().await;
                }
                spawn(async { record_blob_request() }).await.unwrap();
            })
        };
        tokio::join!(run(a.clone(), 3, gate.clone()), run(b.clone(), 5, gate));
        assert_eq!(a.read(), Metered { store_requests: 3, store_micros: 0, blob_requests: 1 });
        assert_eq!(b.read(), Metered { store_requests: 5, store_micros: 0, blob_requests: 1 });
        record_store_request(); // outside any request: recorded nowhere
        assert_eq!(a.read().store_requests, 3);
    }
}
