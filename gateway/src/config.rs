//! Configuration from the environment (CONTRACT §3), parsed once at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use thiserror::Error;

/// A configuration variable that is missing or malformed.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// The 32-byte key that encrypts secrets at rest. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(pub [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Everything the gateway reads from its environment. Its `Debug` redacts the database
/// password and the master key.
#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`
    pub database_url: String,
    /// `LAYERS_BIND` (default `127.0.0.1:8080`; port 0 picks a free port)
    pub bind: SocketAddr,
    /// `LAYERS_PUBLIC_BASE_URL`
    pub public_base_url: String,
    /// `LAYERS_MEDIA_BASE_URL`
    pub media_base_url: String,
    /// `LAYERS_MASTER_KEY`
    pub master_key: Option<MasterKey>,
    /// `LAYERS_ALLOW_PRIVATE_NETWORK`
    pub allow_private_network: bool,
    /// `LAYERS_WEBHOOK_RETRY_SCHEDULE`
    pub webhook_retry_schedule: Vec<Duration>,
    /// `LAYERS_WEBHOOK_TIMEOUT` (default 10s): the longest one delivery attempt may take.
    pub webhook_timeout: Duration,
    /// `LAYERS_RATE_LIMIT_STANDARD_PER_MIN`
    pub rate_limit_standard_per_min: u32,
    /// `LAYERS_RATE_LIMIT_MAX_BATCH` (default 512): most requests one rate-limit call decides.
    pub rate_limit_max_batch: usize,
    /// `LAYERS_DB_POOL_SIZE` (default 16): connections per gateway process.
    pub db_pool_size: usize,
    /// `LAYERS_WORKERS` (default: one per CPU): HTTP worker threads.
    pub workers: usize,
    /// `LAYERS_AUTH_FAILURES_PER_MIN` (default 60): failed authentications one client address
    /// may make per minute (in bursts of as many) before it is answered 429.
    pub auth_failures_per_min: u32,
    /// `LAYERS_BODY_IDLE_TIMEOUT` (default 5s): longest pause while a request body arrives.
    pub body_idle_timeout: Duration,
    /// `LAYERS_BODY_TIMEOUT` (default 30s): longest time to receive a whole request body.
    pub body_timeout: Duration,
    /// `LAYERS_JOB_CONCURRENCY` (default 8): jobs this process runs at once; 0 runs no worker.
    pub job_concurrency: usize,
    /// `LAYERS_APPSTORE_BASE_URL` (default `https://itunes.apple.com`)
    pub appstore_base_url: String,
    /// `LAYERS_GITHUB_BASE_URL` (default `https://api.github.com`)
    pub github_base_url: String,
    /// `LAYERS_GITHUB_TOKEN` (optional; redacted in `Debug`)
    pub github_token: Option<String>,
    /// `LAYERS_STORAGE_URL` (default `file://$HOME/.local/share/layers/media`)
    pub storage_url: String,
    /// `LAYERS_UPLOAD_MAX_BYTES` (default 268435456): the largest live media file
    pub upload_max_bytes: u64,
    /// `LAYERS_UPLOAD_QUOTA_PER_PROJECT` (default 500): live uploads per project per UTC month
    pub upload_quota_per_project: u32,
    /// `LAYERS_GENERATOR_URL` (no default: live generation needs it and the token)
    pub generator_url: Option<String>,
    /// `LAYERS_GENERATOR_TOKEN` (redacted in `Debug`)
    pub generator_token: Option<String>,
    /// `LAYERS_META_*`, `LAYERS_TIKTOK_*`, `LAYERS_GOOGLE_*`: the social platforms' apps and
    /// base URLs (secrets redacted in `Debug`)
    pub platforms: layers_platforms::Config,
}

/// `postgres://user:secret@host/db` with the password replaced by `<redacted>`, also in the
/// `password=` form of connection strings.
pub fn redact_database_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?'])
            .map(|i| rest + i)
            .unwrap_or(out.len());
        if let Some(at) = out[rest..authority_end].rfind('@').map(|i| rest + i) {
            if let Some(colon) = out[rest..at].find(':').map(|i| rest + i) {
                out.replace_range(colon + 1..at, "<redacted>");
            }
        }
    }
    // key=value form (`password = 'a b'` included), or a password in the query string; every
    // occurrence
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("password") {
        let mut i = from + found + "password".len();
        let rest = |i: usize| out[i..].chars().next();
        while rest(i).is_some_and(|c| c == ' ') {
            i += 1;
        }
        if rest(i) != Some('=') {
            from = i;
            continue;
        }
        i += 1;
        while rest(i).is_some_and(|c| c == ' ') {
            i += 1;
        }
        let end = if rest(i) == Some('\'') {
            // quoted: up to the closing quote not escaped by a backslash
            let mut j = i + 1;
            let bytes = out.as_bytes();
            while j < bytes.len() && !(bytes[j] == b'\'' && bytes[j - 1] != b'\\') {
                j += 1;
            }
            (j + 1).min(out.len())
        } else {
            out[i..]
                .find([' ', '&'])
                .map(|k| i + k)
                .unwrap_or(out.len())
        };
        out.replace_range(i..end, "<redacted>");
        from = i + "<redacted>".len();
    }
    out
}

impl Settings {
    /// What the per-environment services need.
    pub fn environments(&self) -> Result<layers_env::Settings, ConfigError> {
        let url = |value: &str, name: &'static str| {
            layers_outbound::Url::parse(value).map_err(|_| ConfigError {
                name,
                problem: format!("must be a URL, got {value:?}"),
            })
        };
        Ok(layers_env::Settings {
            allow_private_network: self.allow_private_network,
            appstore_base_url: url(&self.appstore_base_url, "LAYERS_APPSTORE_BASE_URL")?,
            github_base_url: url(&self.github_base_url, "LAYERS_GITHUB_BASE_URL")?,
            github_token: self.github_token.clone(),
            storage: layers_storage::Storage::from_url(&self.storage_url).map_err(|e| {
                ConfigError {
                    name: "LAYERS_STORAGE_URL",
                    problem: e.to_string(),
                }
            })?,
            upload_max_bytes: self.upload_max_bytes,
            generator: match (&self.generator_url, &self.generator_token) {
                (Some(u), Some(token)) => Some(layers_content::GeneratorConfig {
                    url: url(u, "LAYERS_GENERATOR_URL")?,
                    token: token.clone(),
                }),
                (None, None) => None,
                _ => {
                    return Err(ConfigError {
                        name: "LAYERS_GENERATOR_URL",
                        problem: "live generation needs both LAYERS_GENERATOR_URL and \
                                  LAYERS_GENERATOR_TOKEN; set both or neither"
                            .into(),
                    })
                }
            },
            master_key: self
                .master_key
                .as_ref()
                .map(|k| std::sync::Arc::new(layers_webhooks::MasterKey::from_bytes(k.0))),
            platforms: self.platforms.clone(),
            public_base_url: self.public_base_url.clone(),
            media_signer: self
                .master_key
                .as_ref()
                .map(|k| layers_storage::UrlSigner::new(&k.0)),
        })
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_database_url(&self.database_url))
            .field("bind", &self.bind)
            .field("public_base_url", &self.public_base_url)
            .field("media_base_url", &self.media_base_url)
            .field("master_key", &self.master_key)
            .field("allow_private_network", &self.allow_private_network)
            .field("webhook_retry_schedule", &self.webhook_retry_schedule)
            .field("webhook_timeout", &self.webhook_timeout)
            .field(
                "rate_limit_standard_per_min",
                &self.rate_limit_standard_per_min,
            )
            .field("rate_limit_max_batch", &self.rate_limit_max_batch)
            .field("db_pool_size", &self.db_pool_size)
            .field("workers", &self.workers)
            .field("auth_failures_per_min", &self.auth_failures_per_min)
            .field("body_idle_timeout", &self.body_idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("job_concurrency", &self.job_concurrency)
            .field("appstore_base_url", &self.appstore_base_url)
            .field("github_base_url", &self.github_base_url)
            .field(
                "github_token",
                &self.github_token.as_ref().map(|_| "<redacted>"),
            )
            .field("storage_url", &self.storage_url)
            .field("upload_max_bytes", &self.upload_max_bytes)
            .field("upload_quota_per_project", &self.upload_quota_per_project)
            .field("generator_url", &self.generator_url)
            .field(
                "generator_token",
                &self.generator_token.as_ref().map(|_| "<redacted>"),
            )
            .field("platforms", &self.platforms)
            .finish()
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so that tests need not touch the process environment.
    /// The variables are read in the order below, so that of several malformed ones the same
    /// one is always named.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let env = Env(&lookup);
        let database_url = env.database_url()?;
        let bind = env.bind()?;
        let master_key = env
            .optional("LAYERS_MASTER_KEY")
            .map(|v| parse_master_key(&v))
            .transpose()?;
        let allow_private_network = env.allow_private_network()?;
        let webhook_retry_schedule = env.webhook_retry_schedule()?;
        let rate_limit_standard_per_min =
            env.positive("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "120")?;
        let body_idle_timeout = env.duration("LAYERS_BODY_IDLE_TIMEOUT", "5s")?;
        let body_timeout = env.duration("LAYERS_BODY_TIMEOUT", "30s")?;
        let webhook_timeout = env.duration("LAYERS_WEBHOOK_TIMEOUT", "10s")?;
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(Settings {
            database_url,
            bind,
            public_base_url: env.base_url("LAYERS_PUBLIC_BASE_URL", "http://127.0.0.1:8080")?,
            media_base_url: env.base_url("LAYERS_MEDIA_BASE_URL", "https://media.layers.com")?,
            master_key,
            allow_private_network,
            webhook_retry_schedule,
            webhook_timeout,
            rate_limit_standard_per_min,
            rate_limit_max_batch: env.positive::<u32>("LAYERS_RATE_LIMIT_MAX_BATCH", "512")?
                as usize,
            db_pool_size: env.positive::<u32>("LAYERS_DB_POOL_SIZE", "16")? as usize,
            workers: env.positive::<u32>("LAYERS_WORKERS", &cpus.to_string())? as usize,
            auth_failures_per_min: env.positive("LAYERS_AUTH_FAILURES_PER_MIN", "60")?,
            body_idle_timeout,
            body_timeout,
            job_concurrency: env.job_concurrency()?,
            appstore_base_url: env
                .base_url("LAYERS_APPSTORE_BASE_URL", "https://itunes.apple.com")?,
            github_base_url: env.base_url("LAYERS_GITHUB_BASE_URL", "https://api.github.com")?,
            github_token: env.optional("LAYERS_GITHUB_TOKEN"),
            storage_url: env
                .optional("LAYERS_STORAGE_URL")
                .unwrap_or_else(default_storage_url),
            upload_max_bytes: env.positive::<u64>("LAYERS_UPLOAD_MAX_BYTES", "268435456")?,
            upload_quota_per_project: env.positive("LAYERS_UPLOAD_QUOTA_PER_PROJECT", "500")?,
            generator_url: env
                .optional("LAYERS_GENERATOR_URL")
                .map(|v| base_url(v, "LAYERS_GENERATOR_URL"))
                .transpose()?,
            generator_token: env.optional("LAYERS_GENERATOR_TOKEN"),
            platforms: layers_platforms::Config::from_lookup(&lookup).map_err(|problem| {
                ConfigError {
                    name: "LAYERS_*_BASE_URL",
                    problem,
                }
            })?,
        })
    }
}

/// The variables [`Settings::from_lookup`] reads, through its `lookup`; a blank value counts
/// as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The value of `name`, if it is set and not blank.
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of `name`, else `default`.
    fn get(&self, name: &'static str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// `name` (else `default`) as a positive integer.
    fn positive<T: std::str::FromStr + PartialOrd + Default>(
        &self,
        name: &'static str,
        default: &str,
    ) -> Result<T, ConfigError> {
        positive(&self.get(name, default), name)
    }

    /// `name` (else `default`) as a non-zero duration such as `500ms`, `5s` or `2m`.
    fn duration(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let value = self.get(name, default);
        parse_duration(value.trim())
            .filter(|d| !d.is_zero())
            .ok_or(ConfigError {
                name,
                problem: format!("must be a duration such as 500ms, 5s or 2m, got {value:?}"),
            })
    }

    /// `name` (else `default`) as an http(s) base URL without a trailing slash.
    fn base_url(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        base_url(self.get(name, default), name)
    }

    /// `DATABASE_URL`, which has no default.
    fn database_url(&self) -> Result<String, ConfigError> {
        self.optional("DATABASE_URL").ok_or(ConfigError {
            name: "DATABASE_URL",
            problem: "is not set: point it at a PostgreSQL database, e.g. \
                      postgres://postgres@127.0.0.1:5432/layers"
                .into(),
        })
    }

    /// `LAYERS_BIND` (default `127.0.0.1:8080`) as an address.
    fn bind(&self) -> Result<SocketAddr, ConfigError> {
        let bind = self.get("LAYERS_BIND", "127.0.0.1:8080");
        bind.parse().map_err(|_| ConfigError {
            name: "LAYERS_BIND",
            problem: format!("must be an address such as 127.0.0.1:8080, got {bind:?}"),
        })
    }

    /// `LAYERS_ALLOW_PRIVATE_NETWORK` (default false): true/1/yes or false/0/no, in any case.
    fn allow_private_network(&self) -> Result<bool, ConfigError> {
        let allow = self.get("LAYERS_ALLOW_PRIVATE_NETWORK", "false");
        match allow.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError {
                name: "LAYERS_ALLOW_PRIVATE_NETWORK",
                problem: format!("must be true or false, got {allow:?}"),
            }),
        }
    }

    /// `LAYERS_WEBHOOK_RETRY_SCHEDULE`: a non-empty comma-separated list of durations.
    fn webhook_retry_schedule(&self) -> Result<Vec<Duration>, ConfigError> {
        let schedule = self.get(
            "LAYERS_WEBHOOK_RETRY_SCHEDULE",
            "0s,5s,5m,30m,2h,5h,10h,10h",
        );
        schedule
            .split(',')
            .map(|d| parse_duration(d.trim()))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError {
                name: "LAYERS_WEBHOOK_RETRY_SCHEDULE",
                problem: format!(
                    "must be a comma-separated list such as 0s,5s,5m,2h, got {schedule:?}"
                ),
            })
    }

    /// `LAYERS_JOB_CONCURRENCY` (default 8): a whole number up to 65535; 0 runs no worker.
    fn job_concurrency(&self) -> Result<usize, ConfigError> {
        self.get("LAYERS_JOB_CONCURRENCY", "8")
            .parse::<u16>()
            .map(usize::from)
            .map_err(|_| ConfigError {
                name: "LAYERS_JOB_CONCURRENCY",
                problem: format!(
                    "must be a whole number (0 runs no worker), got {:?}",
                    self.get("LAYERS_JOB_CONCURRENCY", "8")
                ),
            })
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    value: &str,
    name: &'static str,
) -> Result<T, ConfigError> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or(ConfigError {
            name,
            problem: format!("must be a positive integer, got {value:?}"),
        })
}

/// `file://<data dir>/media`: `$XDG_DATA_HOME/layers/media`, else
/// `$HOME/.local/share/layers/media`, else under the temporary directory.
fn default_storage_url() -> String {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(std::env::temp_dir);
    format!("file://{}", data.join("layers").join("media").display())
}

fn base_url(value: String, name: &'static str) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError {
            name,
            problem: format!("must be an http:// or https:// URL, got {value:?}"),
        })
    }
}

fn parse_master_key(value: &str) -> Result<MasterKey, ConfigError> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(MasterKey)
        .ok_or(ConfigError {
            name: "LAYERS_MASTER_KEY",
            problem: "must be 32 bytes in standard base64 (try `openssl rand -base64 32`)".into(),
        })
}

/// `250ms`, `5s`, `5m`, `2h`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[("DATABASE_URL", "postgres://x@127.0.0.1/db")]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(s.media_base_url, "https://media.layers.com");
        assert_eq!(s.master_key, None);
        assert!(!s.allow_private_network);
        assert_eq!(s.rate_limit_standard_per_min, 120);
        assert_eq!(s.job_concurrency, 8);
        assert_eq!(s.appstore_base_url, "https://itunes.apple.com");
        assert_eq!(s.github_base_url, "https://api.github.com");
        let secs: Vec<u64> = s
            .webhook_retry_schedule
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = |vars: &[(&str, &str)]| settings(vars).unwrap_err().name;
        assert_eq!(err(&[]), "DATABASE_URL");
        let db = ("DATABASE_URL", "postgres://x@h/db");
        assert_eq!(err(&[db, ("LAYERS_BIND", "nowhere")]), "LAYERS_BIND");
        assert_eq!(
            err(&[db, ("LAYERS_MASTER_KEY", "c2hvcnQ=")]),
            "LAYERS_MASTER_KEY"
        );
        assert_eq!(
            err(&[db, ("LAYERS_ALLOW_PRIVATE_NETWORK", "maybe")]),
            "LAYERS_ALLOW_PRIVATE_NETWORK"
        );
        assert_eq!(
            err(&[db, ("LAYERS_WEBHOOK_RETRY_SCHEDULE", "5x")]),
            "LAYERS_WEBHOOK_RETRY_SCHEDULE"
        );
        assert_eq!(
            err(&[db, ("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "0")]),
            "LAYERS_RATE_LIMIT_STANDARD_PER_MIN"
        );
        assert_eq!(
            err(&[db, ("LAYERS_PUBLIC_BASE_URL", "ftp://x")]),
            "LAYERS_PUBLIC_BASE_URL"
        );
    }

    #[test]
    fn accepts_a_master_key_and_private_network() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let s = settings(&[
            ("DATABASE_URL", "postgres://x@h/db"),
            ("LAYERS_MASTER_KEY", &key),
            ("LAYERS_ALLOW_PRIVATE_NETWORK", "true"),
            ("LAYERS_MEDIA_BASE_URL", "http://127.0.0.1:9/media/"),
        ])
        .unwrap();
        assert_eq!(s.master_key, Some(MasterKey([7; 32])));
        assert!(s.allow_private_network);
        assert_eq!(s.media_base_url, "http://127.0.0.1:9/media");
        assert!(!format!("{s:?}").contains(&key));
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        for url in [
            "postgres://layers:hunter2@db.internal:5432/layers?sslmode=require",
            "host=db.internal user=layers password=hunter2 dbname=layers",
            "postgres://db.internal/layers?password=hunter2&sslmode=require",
            "host=db.internal password = hunter2 dbname=layers",
            "host=db.internal password='hunter2 x' dbname=layers password=hunter2",
        ] {
            let s = settings(&[("DATABASE_URL", url), ("LAYERS_MASTER_KEY", &key)]).unwrap();
            let shown = format!("{s:?} {s:#?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains(&key), "{shown}");
            assert!(
                shown.contains("db.internal"),
                "the rest stays readable: {shown}"
            );
        }
        assert_eq!(
            redact_database_url("postgres://u@h/db"),
            "postgres://u@h/db",
            "nothing to redact"
        );
    }
}
