//! What to ingest, parsed from a request: an App Store app, a GitHub repository or a website.

use layers_credits::Operation;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

/// Why an input was refused; the caller names the field.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InputError {
    #[error("give exactly one of a bundle id and an App Store URL")]
    OneAppstoreTarget,
    #[error("must be a bundle id such as com.example.app")]
    BundleId,
    #[error("must be an App Store URL such as https://apps.apple.com/us/app/example/id123456789")]
    AppstoreUrl,
    #[error("must be a GitHub repository as owner/name")]
    Repository,
    #[error("must be a branch name of at most 255 characters without spaces")]
    Branch,
    #[error("must be an http or https URL of at most 2048 characters")]
    Url,
    #[error("must not point at a loopback, private, link-local or metadata address")]
    PrivateAddress,
}

/// An App Store app, by bundle id or by the numeric id in its store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppstoreTarget {
    BundleId(String),
    TrackId(u64),
}

impl AppstoreTarget {
    /// Exactly one of the two must be given.
    pub fn parse(bundle_id: Option<&str>, url: Option<&str>) -> Result<AppstoreTarget, InputError> {
        match (bundle_id, url) {
            (Some(b), None) => {
                let ok = (3..=155).contains(&b.len())
                    && b.contains('.')
                    && !b.starts_with('.')
                    && !b.ends_with('.')
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_');
                ok.then(|| AppstoreTarget::BundleId(b.to_owned()))
                    .ok_or(InputError::BundleId)
            }
            (None, Some(u)) => {
                let url = url::Url::parse(u).map_err(|_| InputError::AppstoreUrl)?;
                let store = matches!(url.host_str(), Some("apps.apple.com" | "itunes.apple.com"));
                let id = url
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .and_then(|last| last.strip_prefix("id"))
                    .and_then(|n| n.parse::<u64>().ok());
                match (store, id) {
                    (true, Some(id)) => Ok(AppstoreTarget::TrackId(id)),
                    _ => Err(InputError::AppstoreUrl),
                }
            }
            _ => Err(InputError::OneAppstoreTarget),
        }
    }
}

/// `owner/name` on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    owner: String,
    name: String,
}

impl Repository {
    pub fn parse(s: &str) -> Result<Repository, InputError> {
        let (owner, name) = s.split_once('/').ok_or(InputError::Repository)?;
        let owner_ok = (1..=39).contains(&owner.len())
            && owner
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !owner.starts_with('-');
        let name_ok = (1..=100).contains(&name.len())
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
        (owner_ok && name_ok)
            .then(|| Repository {
                owner: owner.to_owned(),
                name: name.to_owned(),
            })
            .ok_or(InputError::Repository)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A git branch name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch(String);

impl Branch {
    pub fn parse(s: &str) -> Result<Branch, InputError> {
        let ok = (1..=255).contains(&s.len())
            && !s.starts_with('-')
            && !s.contains("..")
            && s.chars()
                .all(|c| c.is_ascii_graphic() && !"~^:?*[\\".contains(c));
        ok.then(|| Branch(s.to_owned())).ok_or(InputError::Branch)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest website URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A website to read: http(s), and not a literal private address unless private networks are
/// allowed (a name that resolves to one is refused when the job connects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsiteUrl(url::Url);

impl WebsiteUrl {
    pub fn parse(s: &str, allow_private_network: bool) -> Result<WebsiteUrl, InputError> {
        if s.len() > MAX_URL_LEN {
            return Err(InputError::Url);
        }
        let url = url::Url::parse(s).map_err(|_| InputError::Url)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(InputError::Url);
        }
        if !allow_private_network {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            let local_name =
                matches!(url.host_str(), Some(h) if h.eq_ignore_ascii_case("localhost"));
            if local_name || literal.is_some_and(|ip| layers_outbound::refused_range(ip).is_some())
            {
                return Err(InputError::PrivateAddress);
            }
        }
        Ok(WebsiteUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

/// What to ingest; stored as its job's payload (`{bundleId}`, `{trackId}`, `{owner, name,
/// branch}` or `{url}`: the kind is implied by the fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Stored", try_from = "Stored")]
pub enum Source {
    Appstore(AppstoreTarget),
    Github {
        repository: Repository,
        branch: Option<Branch>,
    },
    Website(WebsiteUrl),
}

/// A [`Source`] as its job stores it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
enum Stored {
    Bundle {
        bundle_id: String,
    },
    Track {
        track_id: u64,
    },
    Github {
        owner: String,
        name: String,
        branch: Option<String>,
    },
    Website {
        url: String,
    },
}

impl From<Source> for Stored {
    fn from(source: Source) -> Stored {
        match source {
            Source::Appstore(AppstoreTarget::BundleId(bundle_id)) => Stored::Bundle { bundle_id },
            Source::Appstore(AppstoreTarget::TrackId(track_id)) => Stored::Track { track_id },
            Source::Github { repository, branch } => Stored::Github {
                owner: repository.owner,
                name: repository.name,
                branch: branch.map(|b| b.0),
            },
            Source::Website(url) => Stored::Website {
                url: url.0.to_string(),
            },
        }
    }
}

impl TryFrom<Stored> for Source {
    type Error = url::ParseError;

    fn try_from(stored: Stored) -> Result<Source, url::ParseError> {
        Ok(match stored {
            Stored::Bundle { bundle_id } => Source::Appstore(AppstoreTarget::BundleId(bundle_id)),
            Stored::Track { track_id } => Source::Appstore(AppstoreTarget::TrackId(track_id)),
            Stored::Github {
                owner,
                name,
                branch,
            } => Source::Github {
                repository: Repository { owner, name },
                branch: branch.map(Branch),
            },
            // validated when queued; reading it back must not depend on the setting of the day
            Stored::Website { url } => Source::Website(WebsiteUrl(url::Url::parse(&url)?)),
        })
    }
}

impl layers_jobs::Payload for Source {
    fn kind(&self) -> &'static str {
        Source::kind(self)
    }
}

impl Source {
    pub fn github(repository: Repository, branch: Option<Branch>) -> Source {
        Source::Github { repository, branch }
    }

    /// The job kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Appstore(_) => "ingest_appstore",
            Source::Github { .. } => "ingest_github",
            Source::Website(_) => "ingest_website",
        }
    }

    /// What the job costs.
    pub fn operation(&self) -> Operation {
        match self {
            Source::Appstore(_) => Operation::IngestAppstore,
            Source::Github { .. } => Operation::IngestGithub,
            Source::Website(_) => Operation::IngestWebsite,
        }
    }

    /// The name of the source in results (`appstore`, `github`, `website`).
    pub fn name(&self) -> &'static str {
        match self {
            Source::Appstore(_) => "appstore",
            Source::Github { .. } => "github",
            Source::Website(_) => "website",
        }
    }

    /// The sandbox's facts: derived from the input alone, the same bytes every time.
    pub fn sandbox_facts(&self) -> Value {
        // the stored payload as a JSON value (its keys sorted), as it always was
        let stored = serde_json::to_value(self).unwrap_or_default();
        let seed = fnv1a(stored.to_string().as_bytes());
        let facts = match self {
            Source::Appstore(target) => {
                let (key, value) = match target {
                    AppstoreTarget::BundleId(b) => ("bundleId", json!(b)),
                    AppstoreTarget::TrackId(id) => ("trackId", json!(id)),
                };
                let label = match target {
                    AppstoreTarget::BundleId(b) => title_case(b.rsplit('.').next().unwrap_or(b)),
                    AppstoreTarget::TrackId(id) => format!("App {id}"),
                };
                json!({
                    "name": format!("{label} (sandbox)"),
                    "description": format!("Sandbox facts for the App Store app {label}: no store was called."),
                    key: value,
                    "sellerName": "Sandbox Seller",
                    "averageUserRating": 3.0 + f64::from(seed % 21) / 10.0,
                    "userRatingCount": seed % 10_000,
                })
            }
            Source::Github { repository, branch } => json!({
                "name": repository.name,
                "fullName": format!("{}/{}", repository.owner, repository.name),
                "description": format!("Sandbox facts for {}/{}: GitHub was not called.", repository.owner, repository.name),
                "branch": branch.as_ref().map(Branch::as_str).unwrap_or("main"),
                "stars": seed % 5_000,
                "readme": format!("# {}\n\nA sandbox README.", repository.name),
            }),
            Source::Website(url) => {
                let host = url.url().host_str().unwrap_or("example").to_owned();
                json!({
                    "name": format!("{host} (sandbox)"),
                    "description": format!("Sandbox facts for {}: the page was not fetched.", url.as_str()),
                    "url": url.as_str(),
                })
            }
        };
        json!({ "source": self.name(), "facts": facts, "sandbox": true })
    }
}

fn title_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// 32-bit FNV-1a (CONTRACT §8).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(2_166_136_261_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appstore_targets_need_exactly_one_input() {
        assert_eq!(
            AppstoreTarget::parse(Some("com.example.doesnotexist"), None),
            Ok(AppstoreTarget::BundleId("com.example.doesnotexist".into()))
        );
        assert_eq!(
            AppstoreTarget::parse(None, Some("https://apps.apple.com/us/app/x/id389801252")),
            Ok(AppstoreTarget::TrackId(389801252))
        );
        assert_eq!(
            AppstoreTarget::parse(None, None),
            Err(InputError::OneAppstoreTarget)
        );
        assert_eq!(
            AppstoreTarget::parse(Some("a.b"), Some("https://apps.apple.com/id1")),
            Err(InputError::OneAppstoreTarget)
        );
        assert_eq!(
            AppstoreTarget::parse(Some("nodots"), None),
            Err(InputError::BundleId)
        );
        assert_eq!(
            AppstoreTarget::parse(None, Some("https://evil.example/id1")),
            Err(InputError::AppstoreUrl)
        );
    }

    #[test]
    fn repositories_branches_and_urls_parse() {
        assert!(Repository::parse("rust-lang/rust").is_ok());
        for bad in ["rust", "/x", "a/", "a/b/c", "-a/b", "a/..", "a b/c"] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
        assert!(Branch::parse("feature/x-1").is_ok());
        assert!(Branch::parse("a..b").is_err());
        assert!(WebsiteUrl::parse("https://example.com/page", false).is_ok());
        assert_eq!(
            WebsiteUrl::parse("ftp://example.com", false),
            Err(InputError::Url)
        );
        for private in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/",
            "http://localhost:8080/",
        ] {
            assert_eq!(
                WebsiteUrl::parse(private, false),
                Err(InputError::PrivateAddress),
                "{private}"
            );
            assert!(WebsiteUrl::parse(private, true).is_ok());
        }
    }

    #[test]
    fn payloads_round_trip_and_sandbox_facts_are_deterministic() {
        let sources = [
            Source::Appstore(AppstoreTarget::BundleId("com.example.app".into())),
            Source::Appstore(AppstoreTarget::TrackId(42)),
            Source::github(
                Repository::parse("o/n").unwrap(),
                Some(Branch::parse("dev").unwrap()),
            ),
            Source::Website(WebsiteUrl::parse("https://example.com/", false).unwrap()),
        ];
        for s in sources {
            let stored = serde_json::to_value(&s).unwrap();
            assert_eq!(serde_json::from_value::<Source>(stored).unwrap(), s);
            let facts = s.sandbox_facts();
            assert_eq!(facts.to_string(), s.sandbox_facts().to_string());
            assert_eq!(facts["source"], s.name());
            assert!(facts["facts"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty()));
        }
    }
}
