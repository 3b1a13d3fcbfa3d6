//! Stopping a running turn from another request (`turns.cancel`). A client disconnect does
//! not reach a streaming Lambda function (Lambda keeps reading the response after the client
//! left), so the web kit, when its `AbortSignal` fires, asks for the turn named by the
//! response's `x-chatkit-turn-id` header to stop. The request sets a flag in the store
//! (another container usually runs the turn) and wakes the turn at once when it runs in
//! this process; a running turn polls the flag every [`crate::ServerConfig::cancel_poll`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatkit_store::meter;
use chatkit_store::{Store, UserId};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::warn;

/// The turns running in this process, by user and turn id.
#[derive(Default)]
pub(crate) struct RunningTurns {
    turns: Mutex<HashMap<(UserId, String), Arc<Notify>>>,
}

/// A running turn's registration: woken on cancel; removed when dropped.
pub(crate) struct TurnGuard {
    registry: Arc<RunningTurns>,
    key: (UserId, String),
    pub(crate) cancelled: Arc<Notify>,
    poller: Option<JoinHandle<()>>,
}

impl RunningTurns {
    /// Registers a turn; with a poll interval, also watches the store's flag for it.
    pub(crate) fn register(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        user: &UserId,
        turn_id: &str,
        poll: Duration,
    ) -> TurnGuard {
        let key = (user.clone(), turn_id.to_string());
        let cancelled = Arc::new(Notify::new());
        self.turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), cancelled.clone());
        let poller = (!poll.is_zero())
            .then(|| meter::spawn(watch(store, key.clone(), poll, cancelled.clone())));
        TurnGuard { registry: self.clone(), key, cancelled, poller }
    }

    /// How many turns run in this process.
    pub(crate) fn count(&self) -> usize {
        self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Wakes the turn if it runs here; whether it did.
    pub(crate) fn cancel_local(&self, user: &UserId, turn_id: &str) -> bool {
        let turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match turns.get(&(user.clone(), turn_id.to_string())) {
            Some(turn) => {
                turn.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
        self.registry
            .turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Reads the turn's flag every `poll` until it is set (a failed read is retried next time).
async fn watch(
    store: Arc<dyn Store>,
    (user, turn_id): (UserId, String),
    poll: Duration,
    cancelled: Arc<Notify>,
) {
    loop {
        tokio::time::sleep(poll).await;
        match store.is_cancelled(&user, &turn_id).await {
            Ok(true) => {
                cancelled.notify_one();
                return;
            }
            Ok(false) => {}
            Err(err) => warn!(turn_id, error = %err, "could not read the turn's cancel flag"),
        }
    }
}
