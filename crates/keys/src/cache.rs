//! An in-process cache of key lookups, kept honest by PostgreSQL notifications.
//!
//! Triggers on `api_keys`, `organizations` and `plans` send `NOTIFY layers_auth` with the key id
//! (or `*`) in the same transaction as the change; every process listens and drops what
//! changed, so a revoke or kill reaches every instance within milliseconds of its commit.
//!
//! The cache does not trust that notifications arrive: every heartbeat sends a notification
//! carrying a fresh nonce, from a connection of its own, and the listener must hear it back
//! before the next heartbeat. A connection that died silently, or a path that swallows
//! notifications (a transaction-pooling proxy between the gateway and PostgreSQL), fails that
//! proof within two heartbeats and the cache is bypassed until it holds again. Entries also live
//! only a few seconds, as a last line of defence. A generation counter keeps a lookup that raced
//! with a change from being cached.
//!
//! Unknown key ids are cached too (negatively), so a flood of made-up keys costs one query per
//! id and lifetime, not one per request; minting a key notifies like any other change, which
//! drops a negative entry for its id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio_postgres::AsyncMessage;

use crate::{cache_store, KeyId, ResolvedKey};

/// The notification channel the triggers use.
pub const CHANNEL: &str = "layers_auth";

/// How often the listener proves that notifications reach it, by default.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(400);

/// Most unknown key ids remembered at once; past it the negative entries are dropped wholesale
/// (a flood of distinct made-up ids is the failed-authentication limiter's business).
pub const MAX_UNKNOWN: usize = 100_000;

/// Heartbeat payloads start with this; key ids never do.
const HEARTBEAT_PREFIX: &str = "heartbeat:";

/// What the cache knows about a key id.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A fresh lookup of an existing key.
    Found(Arc<ResolvedKey>),
    /// Recently looked up, and no such key existed.
    Unknown,
    /// Nothing cached (or the cache is bypassed): ask the database.
    Miss,
}

#[derive(Debug, Default)]
struct Entries {
    known: HashMap<String, (Arc<ResolvedKey>, Instant)>,
    unknown: HashMap<String, Instant>,
}

/// Cached lookups by key id.
#[derive(Debug)]
pub struct KeyCache {
    entries: RwLock<Entries>,
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

    /// A cache whose listener proves every `heartbeat` that notifications reach it (and gives
    /// up on its connection when one is not back by the next heartbeat).
    pub fn with_heartbeat(ttl: Duration, heartbeat: Duration) -> Arc<KeyCache> {
        Arc::new(KeyCache {
            entries: RwLock::new(Entries::default()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            ttl,
            heartbeat,
        })
    }

    /// Whether the cache is in use (its listener is connected and hears notifications).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// What the cache knows about `key_id`.
    pub fn lookup(&self, key_id: &KeyId) -> Lookup {
        if !self.is_listening() {
            return Lookup::Miss;
        }
        let entries = self.entries.read();
        if let Some((k, at)) = entries.known.get(key_id.as_str()) {
            if at.elapsed() < self.ttl {
                return Lookup::Found(k.clone());
            }
        }
        match entries.unknown.get(key_id.as_str()) {
            Some(at) if at.elapsed() < self.ttl => Lookup::Unknown,
            _ => Lookup::Miss,
        }
    }

    /// Whether `key_id` resolved to a key since the last change notified about it, however long
    /// ago: the failed-authentication limiter still lets such ids reach the database from an
    /// address it blocks, so a partner's working key keeps working beside a flood.
    pub fn recently_valid(&self, key_id: &KeyId) -> bool {
        self.is_listening() && self.entries.read().known.contains_key(key_id.as_str())
    }

    /// A cached lookup, if the cache is in use and the entry is fresh.
    pub fn get(&self, key_id: &KeyId) -> Option<Arc<ResolvedKey>> {
        match self.lookup(key_id) {
            Lookup::Found(k) => Some(k),
            _ => None,
        }
    }

    /// The generation to hand back to [`KeyCache::insert`]; read it before the lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches a lookup unless something changed since `generation` was read.
    pub fn insert(&self, resolved: Arc<ResolvedKey>, generation: u64) {
        let mut entries = self.entries.write();
        if self.is_listening() && self.generation.load(Ordering::SeqCst) == generation {
            let id = resolved.record.key_id.as_str().to_owned();
            entries.unknown.remove(&id);
            entries.known.insert(id, (resolved, Instant::now()));
        }
    }

    /// Remembers that no key has this id, unless something changed since `generation`.
    pub fn insert_unknown(&self, key_id: &KeyId, generation: u64) {
        let mut entries = self.entries.write();
        if self.is_listening() && self.generation.load(Ordering::SeqCst) == generation {
            if entries.unknown.len() >= MAX_UNKNOWN {
                entries.unknown.clear();
            }
            entries
                .unknown
                .insert(key_id.as_str().to_owned(), Instant::now());
        }
    }

    /// Drops one key (`Some`) or everything (`None`), known or unknown.
    pub fn invalidate(&self, key_id: Option<&str>) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        match key_id {
            Some(id) => {
                entries.known.remove(id);
                entries.unknown.remove(id);
            }
            None => *entries = Entries::default(),
        }
    }

    fn set_listening(&self, on: bool) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
        self.listening.store(on, Ordering::SeqCst);
    }

    /// Listens for changes until the runtime stops, reconnecting with back-off; the cache is
    /// bypassed whenever notifications are not proven to arrive.
    pub fn spawn_listener(self: &Arc<Self>, database_url: String) -> tokio::task::JoinHandle<()> {
        self.spawn_listener_proven_by(database_url.clone(), database_url)
    }

    /// [`KeyCache::spawn_listener`], with the heartbeat notifications sent through
    /// `heartbeat_url` (a connection of their own, as the triggers' notifications come from other
    /// sessions). Pointing it elsewhere than `listen_url` shows what happens when notifications
    /// are lost on the way: the cache is never used.
    pub fn spawn_listener_proven_by(
        self: &Arc<Self>,
        listen_url: String,
        heartbeat_url: String,
    ) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let Err(e) = cache.listen_once(&listen_url, &heartbeat_url).await;
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

    /// Listens until the connection fails or notifications stop arriving; never returns
    /// otherwise.
    async fn listen_once(
        &self,
        listen_url: &str,
        heartbeat_url: &str,
    ) -> Result<std::convert::Infallible, String> {
        let (client, connection) = tokio_postgres::connect(listen_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let (driver, mut rx) = forward_notifications(connection);
        let (sender, sender_connection) =
            match tokio_postgres::connect(heartbeat_url, tokio_postgres::NoTls).await {
                Ok(pair) => pair,
                Err(e) => {
                    driver.abort();
                    return Err(e.to_string());
                }
            };
        let sender_driver = tokio::spawn(sender_connection);
        let result = self.listen(&client, &sender, &mut rx).await;
        driver.abort();
        sender_driver.abort();
        result
    }

    /// `LISTEN`s on `client`, then handles each notification from `notifications` and, every
    /// heartbeat, proves through `sender` that notifications still arrive; returns only when
    /// the connection closes or a proof fails.
    async fn listen(
        &self,
        client: &tokio_postgres::Client,
        sender: &tokio_postgres::Client,
        notifications: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    ) -> Result<std::convert::Infallible, String> {
        cache_store::listen(client)
            .await
            .map_err(|e| e.to_string())?;
        let mut heartbeat = tokio::time::interval(self.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A heartbeat may take this long to come back before the cache is switched off: a
        // busy database must not make a working listener flap.
        let patience = self.heartbeat * 3;
        // the nonce of the heartbeat in flight, not heard back yet, and when it was sent
        let mut awaiting: Option<(String, tokio::time::Instant)> = None;
        loop {
            tokio::select! {
                // notifications first: one that is ready must never lose to the clock
                biased;
                payload = notifications.recv() => match payload {
                    Some(p) => self.heard(p, &mut awaiting),
                    None => return Err("the listening connection closed".to_owned()),
                },
                _ = heartbeat.tick() => {
                    if let Some((_, sent)) = &awaiting {
                        if sent.elapsed() > patience {
                            return Err("a heartbeat notification did not come back in time".to_owned());
                        }
                        continue;
                    }
                    awaiting = Some(send_heartbeat(sender, patience).await?);
                }
            }
        }
    }

    /// Handles one notification's payload: the awaited heartbeat's nonce proves the listener
    /// (the first proof lets the cache be used); another heartbeat's is ignored; anything else
    /// names a key id to drop, or `*` for everything.
    fn heard(&self, payload: String, awaiting: &mut Option<(String, tokio::time::Instant)>) {
        if payload.starts_with(HEARTBEAT_PREFIX) {
            if awaiting
                .as_ref()
                .is_some_and(|(nonce, _)| *nonce == payload)
            {
                *awaiting = None;
                if !self.is_listening() {
                    // proven once: from now on the cache may be used
                    self.set_listening(true);
                }
            }
        } else {
            self.invalidate(if payload == "*" { None } else { Some(&payload) });
        }
    }
}

/// Drives the listening `connection` on a task of its own, forwarding each notification's
/// payload to the returned channel until the connection ends or the channel is dropped.
fn forward_notifications(
    mut connection: tokio_postgres::Connection<
        tokio_postgres::Socket,
        tokio_postgres::tls::NoTlsStream,
    >,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
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
    (driver, rx)
}

/// Sends one heartbeat notification with a fresh nonce through `sender`, waiting at most
/// `patience` for it to be accepted; the nonce and when it was sent.
async fn send_heartbeat(
    sender: &tokio_postgres::Client,
    patience: Duration,
) -> Result<(String, tokio::time::Instant), String> {
    let nonce = format!("{HEARTBEAT_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let sent_at = tokio::time::Instant::now();
    let sent = cache_store::notify(sender, &nonce);
    match tokio::time::timeout(patience, sent).await {
        Ok(Ok(_)) => Ok((nonce, sent_at)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the heartbeat connection stopped answering".to_owned()),
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
    async fn unknown_ids_are_cached_until_a_mint_notifies() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let cache = KeyCache::with_heartbeat(Duration::from_secs(60), Duration::from_secs(30));
        let listener = cache.spawn_listener(db.url.clone());
        wait_for(Duration::from_secs(10), || cache.is_listening()).await;
        let (_, minted) = partner_key(&c).await;
        let unknown = crate::ApiKey::mint(EnvKind::Live, &SystemRandom::new());
        let id = unknown.key_id().clone();
        assert!(matches!(cache.lookup(&id), Lookup::Miss));
        cache.insert_unknown(&id, cache.generation());
        assert!(matches!(cache.lookup(&id), Lookup::Unknown));
        // a notification about that id (as a mint sends) drops the negative entry
        c.execute("SELECT pg_notify('layers_auth', $1)", &[&id.as_str()])
            .await
            .unwrap();
        wait_until(|| matches!(cache.lookup(&id), Lookup::Miss)).await;
        // and a real mint notifies with its own id
        let other = minted.key.key_id().clone();
        cache.insert_unknown(&other, cache.generation());
        assert!(matches!(cache.lookup(&other), Lookup::Unknown));
        c.execute(
            "UPDATE api_keys SET scopes = scopes WHERE key_id = $1",
            &[&other.as_str()],
        )
        .await
        .unwrap();
        wait_until(|| matches!(cache.lookup(&other), Lookup::Miss)).await;
        listener.abort();
    }

    #[tokio::test]
    async fn notifications_that_do_not_arrive_keep_the_cache_off() {
        let db = fresh_database().await;
        let elsewhere = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let (_, minted) = partner_key(&c).await;
        // heartbeats sent to another database never reach the listener, as when a proxy
        // swallows notifications: the cache must never switch on
        let cache = KeyCache::with_heartbeat(Duration::from_secs(60), Duration::from_millis(50));
        let listener = cache.spawn_listener_proven_by(db.url.clone(), elsewhere.url.clone());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!cache.is_listening());
        let resolved = store::resolve(&c, minted.key.key_id())
            .await
            .unwrap()
            .unwrap();
        cache.insert(Arc::new(resolved), cache.generation());
        assert!(cache.get(minted.key.key_id()).is_none());
        listener.abort();

        // the same cache with heartbeats on the right path switches on
        let listener = cache.spawn_listener(db.url.clone());
        wait_for(Duration::from_secs(10), || cache.is_listening()).await;
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
