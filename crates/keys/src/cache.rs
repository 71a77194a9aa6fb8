//! An in-process cache of key lookups, kept honest by PostgreSQL notifications.
//!
//! Triggers on `api_keys`, `organizations` and `plans` send `NOTIFY layers_auth` with the key id
//! (or `*`) in the same transaction as the change; every process listens and drops what
//! changed, so a revoke or kill reaches every instance within milliseconds of its commit. While
//! the listening connection is down the cache is bypassed, so a lost notification can never
//! keep a revoked key alive. A generation counter keeps a lookup that raced with a change from
//! being cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio_postgres::AsyncMessage;

use crate::{KeyId, ResolvedKey};

/// The notification channel the triggers use.
pub const CHANNEL: &str = "layers_auth";

/// How often the listening connection proves it is alive (and how long it may take to), by
/// default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(400);

/// Cached lookups by key id.
#[derive(Debug)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Arc<ResolvedKey>, Instant)>>,
    generation: AtomicU64,
    listening: AtomicBool,
    ttl: Duration,
    heartbeat: Duration,
}

impl KeyCache {
    /// A cache whose entries also expire after `ttl`, as a second line of defence.
    pub fn new(ttl: Duration) -> Arc<KeyCache> {
        KeyCache::with_heartbeat(ttl, DEFAULT_HEARTBEAT)
    }

    /// A cache whose listener checks its connection every `heartbeat` (and gives up on it when
    /// a check takes longer than that).
    pub fn with_heartbeat(ttl: Duration, heartbeat: Duration) -> Arc<KeyCache> {
        Arc::new(KeyCache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            ttl,
            heartbeat,
        })
    }

    /// Whether the cache is in use (its listener is connected).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// A cached lookup, if the cache is in use and the entry is fresh.
    pub fn get(&self, key_id: &KeyId) -> Option<Arc<ResolvedKey>> {
        if !self.is_listening() {
            return None;
        }
        let entries = self.entries.read().expect("key cache lock");
        entries
            .get(key_id.as_str())
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(k, _)| k.clone())
    }

    /// The generation to hand back to [`KeyCache::insert`]; read it before the lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches a lookup unless something changed since `generation` was read.
    pub fn insert(&self, resolved: Arc<ResolvedKey>, generation: u64) {
        let mut entries = self.entries.write().expect("key cache lock");
        if self.is_listening() && self.generation.load(Ordering::SeqCst) == generation {
            entries.insert(
                resolved.record.key_id.as_str().to_owned(),
                (resolved, Instant::now()),
            );
        }
    }

    /// Drops one key (`Some`) or everything (`None`).
    pub fn invalidate(&self, key_id: Option<&str>) {
        let mut entries = self.entries.write().expect("key cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        match key_id {
            Some(id) => {
                entries.remove(id);
            }
            None => entries.clear(),
        }
    }

    fn set_listening(&self, on: bool) {
        let mut entries = self.entries.write().expect("key cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
        self.listening.store(on, Ordering::SeqCst);
    }

    /// Listens for changes until the runtime stops, reconnecting with back-off; the cache is
    /// bypassed whenever the connection is down.
    pub fn spawn_listener(self: &Arc<Self>, database_url: String) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let Err(e) = cache.listen_once(&database_url).await;
                tracing::warn!(error = %e, "key cache listener stopped; bypassing the cache");
                if cache.is_listening() {
                    // it was up: retry at once, as after a first failure
                    backoff = Duration::from_millis(100);
                }
                cache.set_listening(false);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// Listens until the connection fails; never returns otherwise.
    async fn listen_once(&self, database_url: &str) -> Result<std::convert::Infallible, String> {
        let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        let result = async {
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .map_err(|e| e.to_string())?;
            self.set_listening(true);
            // A connection can die without a word (a half-open socket): a heartbeat that does
            // not come back in time ends this listener, and the cache is bypassed until the
            // next one is up.
            let mut heartbeat = tokio::time::interval(self.heartbeat);
            loop {
                tokio::select! {
                    payload = rx.recv() => match payload {
                        Some(payload) => self.invalidate(if payload == "*" { None } else { Some(&payload) }),
                        None => return Err("the listening connection closed".to_owned()),
                    },
                    _ = heartbeat.tick() => {
                        match tokio::time::timeout(self.heartbeat, client.simple_query("SELECT 1")).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => return Err(e.to_string()),
                            Err(_) => return Err("the listening connection stopped answering".to_owned()),
                        }
                    }
                }
            }
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{store, Scopes, Tier};
    use layers_core::EnvKind;
    use layers_db::testing::fresh_database;
    use layers_orgs::Plan;
    use ring::rand::SystemRandom;

    async fn partner_key(c: &layers_db::Client) -> (layers_orgs::Organization, crate::MintedKey) {
        let org = layers_orgs::create(c, "Acme", Plan::Partner, None)
            .await
            .unwrap();
        let minted = store::mint(
            c,
            &SystemRandom::new(),
            org.id,
            EnvKind::Live,
            &Scopes::All,
            Tier::Standard,
        )
        .await
        .unwrap();
        (org, minted)
    }

    async fn wait_until(mut f: impl FnMut() -> bool) -> Duration {
        wait_for(Duration::from_secs(1), &mut f).await
    }

    async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        while !f() {
            assert!(started.elapsed() < limit, "not within {limit:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }

    #[tokio::test]
    async fn a_revoke_or_plan_change_evicts_within_a_second() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let (org, minted) = partner_key(&c).await;
        let id = minted.key.key_id().clone();

        // a slow heartbeat on a busy machine must not switch the cache off mid-test
        let cache = KeyCache::with_heartbeat(Duration::from_secs(60), Duration::from_secs(30));
        let listener = cache.spawn_listener(db.url.clone());
        // connecting may be slow on a busy machine; only the eviction is held to one second
        wait_for(Duration::from_secs(10), || cache.is_listening()).await;
        let generation = cache.generation();
        let resolved = store::resolve(&c, &id).await.unwrap().unwrap();
        cache.insert(Arc::new(resolved), generation);
        assert!(cache.get(&id).is_some());

        store::revoke(&c, minted.record.id).await.unwrap();
        wait_until(|| cache.get(&id).is_none()).await;
        assert!(
            cache.is_listening(),
            "evicted by the notification, not by a lost listener"
        );

        let generation = cache.generation();
        let resolved = store::resolve(&c, &id).await.unwrap().unwrap();
        cache.insert(Arc::new(resolved.clone()), generation);
        assert!(cache.get(&id).is_some());
        layers_orgs::set_plan(&c, org.id, Plan::Free).await.unwrap();
        wait_until(|| cache.get(&id).is_none()).await;
        assert!(cache.is_listening());

        // a lookup that raced with a change is not cached
        let stale = cache.generation();
        cache.invalidate(Some("OTHER"));
        cache.insert(Arc::new(resolved), stale);
        assert!(cache.get(&id).is_none());
        listener.abort();
    }

    #[tokio::test]
    async fn without_a_listener_nothing_is_cached() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let (_, minted) = partner_key(&c).await;
        let cache = KeyCache::new(Duration::from_secs(60));
        let resolved = store::resolve(&c, minted.key.key_id())
            .await
            .unwrap()
            .unwrap();
        cache.insert(Arc::new(resolved), cache.generation());
        assert!(cache.get(minted.key.key_id()).is_none());
    }
}
