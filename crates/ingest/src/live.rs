//! The live adapters: the App Store lookup API, the GitHub REST API and a website fetch, each
//! through the guarded outbound client against a configurable base URL.

use layers_jobs::Failure;
use layers_outbound::header::{HeaderValue, ACCEPT};
use layers_outbound::{Outbound, OutboundError, Url};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::source::{AppstoreTarget, Source};

/// Where the platforms are (CONTRACT §3; tests point them at local fakes).
#[derive(Debug, Clone)]
pub struct Platforms {
    /// `LAYERS_APPSTORE_BASE_URL` (`https://itunes.apple.com`)
    pub appstore_base_url: Url,
    /// `LAYERS_GITHUB_BASE_URL` (`https://api.github.com`)
    pub github_base_url: Url,
    /// `LAYERS_GITHUB_TOKEN`, sent to the GitHub base URL only.
    pub github_token: Option<String>,
}

/// Ingest against the real platforms.
#[derive(Clone)]
pub struct LiveIngest {
    client: Outbound,
    platforms: Platforms,
}

impl std::fmt::Debug for LiveIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIngest")
            .field("appstore", &self.platforms.appstore_base_url.as_str())
            .field("github", &self.platforms.github_base_url.as_str())
            .field(
                "github_token",
                &self.platforms.github_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A job error a partner reads: bounded (the client's errors quote whole URLs), and a refused
/// address is not named (it would tell what a partner-chosen name resolves to inside).
fn failure(e: OutboundError) -> Failure {
    if matches!(e, OutboundError::Refused { .. }) {
        return Failure::Permanent(
            "the host is not reachable from this API: loopback, private, link-local and \
             metadata addresses are refused"
                .into(),
        );
    }
    let mut message = e.to_string();
    if let Some((cut, _)) = message.char_indices().nth(300) {
        message.truncate(cut);
        message.push('…');
    }
    if e.is_transient() {
        Failure::Transient(message)
    } else {
        Failure::Permanent(message)
    }
}

/// `base` with `path` appended (keeping a path prefix the base may carry).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

#[derive(Deserialize)]
struct Lookup {
    #[serde(rename = "resultCount")]
    result_count: u64,
    #[serde(default)]
    results: Vec<Value>,
}

#[derive(Deserialize)]
struct Repo {
    name: String,
    full_name: String,
    description: Option<String>,
    default_branch: Option<String>,
    stargazers_count: Option<u64>,
    language: Option<String>,
    html_url: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
}

impl LiveIngest {
    pub fn new(client: Outbound, platforms: Platforms) -> LiveIngest {
        LiveIngest { client, platforms }
    }

    /// The facts for `source`, read from its platform.
    pub async fn facts(&self, source: &Source) -> Result<Value, Failure> {
        let facts = match source {
            Source::Appstore(target) => self.appstore(target).await?,
            Source::Github { repository, branch } => {
                self.github(
                    repository.owner(),
                    repository.name(),
                    branch.as_ref().map(|b| b.as_str()),
                )
                .await?
            }
            Source::Website(url) => self.website(url.url()).await?,
        };
        Ok(json!({ "source": source.name(), "facts": facts }))
    }

    async fn appstore(&self, target: &AppstoreTarget) -> Result<Value, Failure> {
        let url = join(&self.platforms.appstore_base_url, "lookup");
        let (key, value) = match target {
            AppstoreTarget::BundleId(b) => ("bundleId", b.clone()),
            AppstoreTarget::TrackId(id) => ("id", id.to_string()),
        };
        let lookup: Lookup = self
            .client
            .get(url)
            .query(&[(key, value.as_str())])
            .fetch_json()
            .await
            .map_err(failure)?;
        let app = match (lookup.result_count, lookup.results.into_iter().next()) {
            (n, Some(app)) if n > 0 => app,
            _ => {
                return Err(Failure::Permanent(format!(
                    "the App Store has no app with {key} {value}"
                )))
            }
        };
        Ok(json!({
            "name": app["trackName"],
            "description": app["description"],
            "bundleId": app["bundleId"],
            "trackId": app["trackId"],
            "sellerName": app["sellerName"],
            "averageUserRating": app["averageUserRating"],
            "userRatingCount": app["userRatingCount"],
            "genres": app["genres"],
            "url": app["trackViewUrl"],
        }))
    }

    async fn github(
        &self,
        owner: &str,
        name: &str,
        branch: Option<&str>,
    ) -> Result<Value, Failure> {
        let base = &self.platforms.github_base_url;
        let with_token = |request: layers_outbound::Request| match &self.platforms.github_token {
            Some(token) => request.bearer(token),
            None => request,
        };
        let repo: Repo = with_token(
            self.client
                .get(join(base, &format!("repos/{owner}/{name}")))
                .header(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github+json"),
                ),
        )
        .fetch_json()
        .await
        .map_err(|e| match e.status().map(|s| s.as_u16()) {
            Some(404) => Failure::Permanent(format!(
                "GitHub has no repository {owner}/{name} this token can read"
            )),
            _ => failure(e),
        })?;
        let branch = branch
            .map(str::to_owned)
            .or(repo.default_branch.clone())
            .unwrap_or_else(|| "main".into());
        let readme = with_token(
            self.client
                .get(join(base, &format!("repos/{owner}/{name}/readme")))
                .query(&[("ref", branch.as_str())])
                .header(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github.raw"),
                ),
        )
        .send()
        .await
        .map_err(failure)?;
        let readme = match readme.status().as_u16() {
            404 => None,
            _ => Some(
                readme
                    .error_for_status()
                    .await
                    .map_err(failure)?
                    .text()
                    .await
                    .map_err(failure)?,
            ),
        };
        Ok(json!({
            "name": repo.name,
            "fullName": repo.full_name,
            "description": repo.description,
            "branch": branch,
            "stars": repo.stargazers_count,
            "language": repo.language,
            "topics": repo.topics,
            "url": repo.html_url,
            "readme": readme,
        }))
    }

    async fn website(&self, url: &Url) -> Result<Value, Failure> {
        let html = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(failure)?
            .error_for_status()
            .await
            .map_err(failure)?
            .text()
            .await
            .map_err(failure)?;
        Ok(page_facts(&html, url))
    }
}

/// Title, description and Open Graph tags of a page; `name` is `og:title`, else `<title>`.
pub(crate) fn page_facts(html: &str, url: &Url) -> Value {
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return json!({ "name": null, "description": null, "url": url.as_str() });
    };
    let parser = dom.parser();
    let text = |selector: &str| {
        dom.query_selector(selector)
            .and_then(|mut nodes| nodes.next())
            .and_then(|h| h.get(parser))
            .map(|node| node.inner_text(parser).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let meta = |attribute: &str, value: &str| {
        dom.query_selector("meta")?.find_map(|h| {
            let tag = h.get(parser)?.as_tag()?;
            let attrs = tag.attributes();
            let matches = attrs
                .get(attribute)
                .flatten()
                .is_some_and(|v| v.as_utf8_str().eq_ignore_ascii_case(value));
            if !matches {
                return None;
            }
            attrs
                .get("content")
                .flatten()
                .map(|c| c.as_utf8_str().trim().to_owned())
                .filter(|c| !c.is_empty())
        })
    };
    let og_title = meta("property", "og:title");
    let title = text("title");
    json!({
        "name": og_title.clone().or(title.clone()),
        "title": title,
        "description": meta("property", "og:description").or_else(|| meta("name", "description")),
        "ogTitle": og_title,
        "ogImage": meta("property", "og:image"),
        "url": url.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_facts_prefer_open_graph() {
        let url = Url::parse("https://example.com/").unwrap();
        let html = r#"<html><head><title> Plain title </title>
            <meta name="description" content="A plain description">
            <meta property="og:title" content="OG title">
            <meta property="og:image" content="https://example.com/i.png">
            </head><body>hi</body></html>"#;
        let facts = page_facts(html, &url);
        assert_eq!(facts["name"], "OG title");
        assert_eq!(facts["title"], "Plain title");
        assert_eq!(facts["description"], "A plain description");
        assert_eq!(facts["ogImage"], "https://example.com/i.png");
        let bare = page_facts("<title>Only</title>", &url);
        assert_eq!(bare["name"], "Only");
        assert_eq!(bare["description"], Value::Null);
    }

    #[test]
    fn base_urls_keep_their_path() {
        let base = Url::parse("http://127.0.0.1:9/fake/").unwrap();
        assert_eq!(
            join(&base, "lookup").as_str(),
            "http://127.0.0.1:9/fake/lookup"
        );
        let root = Url::parse("https://itunes.apple.com").unwrap();
        assert_eq!(
            join(&root, "lookup").as_str(),
            "https://itunes.apple.com/lookup"
        );
    }
}
