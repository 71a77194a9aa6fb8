//! Batching: at most one `layers_admit` call in flight per bucket and process; requests that
//! arrive meanwhile are decided together by the next call.

use std::collections::HashMap;
use std::sync::Arc;

use layers_db::Pool;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::decision::{BatchOutcome, Decision};
use crate::{Error, Request, Result};

/// Largest number of requests one call decides, unless configured otherwise.
pub const DEFAULT_MAX_BATCH: usize = 512;

type Waiter = (Request, oneshot::Sender<Result<Decision>>);

#[derive(Default)]
struct Queue {
    in_flight: bool,
    waiting: Vec<Waiter>,
}

/// Admits requests against rate limits and quotas; share one per process.
pub struct Limiter {
    pool: Pool,
    max_batch: usize,
    queues: Mutex<HashMap<(uuid::Uuid, String), Queue>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

struct DriverGuard<'a> {
    limiter: &'a Limiter,
    key: &'a (uuid::Uuid, String),
    /// Set on the normal way out, where the queue was removed under the lock already (and a
    /// new driver may own a new queue for the same bucket by now).
    finished: bool,
}

impl Drop for DriverGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.limiter.queues.lock().remove(self.key);
    }
}

impl Limiter {
    pub fn new(pool: Pool) -> Arc<Limiter> {
        Limiter::with_max_batch(pool, DEFAULT_MAX_BATCH)
    }

    /// A limiter that decides at most `max_batch` requests per call (1: one call per request).
    pub fn with_max_batch(pool: Pool, max_batch: usize) -> Arc<Limiter> {
        Arc::new(Limiter {
            pool,
            max_batch: max_batch.max(1),
            queues: Mutex::new(HashMap::new()),
        })
    }

    /// Decides one request. Waits for at most the call in flight for its bucket plus its own.
    pub async fn admit(self: &Arc<Self>, request: Request) -> Result<Decision> {
        let key = (request.api_key_id, request.endpoint.clone());
        let (tx, rx) = oneshot::channel();
        let start_driver = {
            let mut queues = self.queues.lock();
            let queue = queues.entry(key.clone()).or_default();
            queue.waiting.push((request, tx));
            !std::mem::replace(&mut queue.in_flight, true)
        };
        if start_driver {
            tokio::spawn(self.clone().drive(key));
        }
        rx.await.map_err(|_| Error::Gone)?
    }

    /// Decides batches for one bucket until its queue is empty.
    async fn drive(self: Arc<Self>, key: (uuid::Uuid, String)) {
        // Should this task die (a panic, a runtime shutting down), forget the queue: its
        // waiters get an error instead of waiting for ever, and the next request starts afresh.
        let mut guard = DriverGuard {
            limiter: &self,
            key: &key,
            finished: false,
        };
        loop {
            let batch: Vec<Waiter> = {
                let mut queues = self.queues.lock();
                let Some(queue) = queues.get_mut(&key) else {
                    guard.finished = true;
                    return;
                };
                if queue.waiting.is_empty() {
                    queues.remove(&key);
                    guard.finished = true;
                    return;
                }
                let take = queue.waiting.len().min(self.max_batch);
                queue.waiting.drain(..take).collect()
            };
            let first = batch[0].0.clone();
            match self.call(&first, batch.len()).await {
                Ok(outcome) => {
                    for (i, (request, tx)) in batch.into_iter().enumerate() {
                        let _ =
                            tx.send(Ok(outcome.decide(i, request.policy, request.monthly_quota)));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate-limit decision failed");
                    for (_, tx) in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// One `layers_admit` call. A pooled connection that turns out dead (the database
    /// restarted) is dropped with the pool's other idle ones and the call made once more on a
    /// fresh one: nothing was decided on the dead one.
    async fn call(&self, r: &Request, n: usize) -> Result<BatchOutcome> {
        match self.call_once(r, n).await {
            Err(e) if layers_db::is_unreachable(&e) => {
                layers_db::forget_idle(&self.pool);
                self.call_once(r, n).await
            }
            done => done,
        }
    }

    async fn call_once(&self, r: &Request, n: usize) -> Result<BatchOutcome> {
        let db = self
            .pool
            .get()
            .await
            .map_err(|e| Error::Pool(Arc::new(e)))?;
        crate::store::admit(&db, r, n).await
    }
}
