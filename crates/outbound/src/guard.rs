//! Where private addresses are refused: the URL's literal host, the resolver, the redirect policy.
//!
//! reqwest resolves a name through [`GuardedResolver`] and connects only to the addresses it
//! returns, so the check and the connection see the same addresses (no window for a DNS answer
//! to change in between). reqwest skips the resolver for IP literals, so those are checked from
//! the URL: before a request is sent ([`check_url`]) and before a redirect is followed
//! ([`redirect_policy`]).

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use reqwest::Url;

use crate::address::refused_range;
use crate::error::{Refusal, Refused};

/// Checks what can be checked without DNS: the scheme is `http(s)`, there is a host, and a
/// literal IP host is not in a refused range (unless `allow_private_network`).
pub(crate) fn check_url(url: &Url, allow_private_network: bool) -> Result<(), Refused> {
    let host = url.host_str().unwrap_or_default().to_owned();
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Refused {
            host,
            reason: Refusal::Scheme(url.scheme().to_owned()),
        });
    }
    if host.is_empty() {
        return Err(Refused {
            host,
            reason: Refusal::NoHost,
        });
    }
    // the URL parser has already turned every spelling of an IP address (`0x7f.1`,
    // `2130706433`, `[::ffff:7f00:1]`) into its canonical form; anything else is a name, left
    // to the resolver
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    let Ok(ip) = literal.parse::<IpAddr>() else {
        // `localhost` and its subdomains are loopback by definition (RFC 6761), whatever a
        // resolver says: refused here already, so that a check without DNS catches them
        let name = literal.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return check_ip(&host, IpAddr::from([127, 0, 0, 1]), allow_private_network);
        }
        return Ok(());
    };
    check_ip(&host, ip, allow_private_network)
}

fn check_ip(host: &str, ip: IpAddr, allow_private_network: bool) -> Result<(), Refused> {
    match refused_range(ip) {
        Some(range) if !allow_private_network => Err(Refused {
            host: host.to_owned(),
            reason: Refusal::Address { ip, range },
        }),
        _ => Ok(()),
    }
}

/// Resolves with the system resolver (tokio's `lookup_host`) and refuses the name if any of its
/// addresses is in a refused range: a name that points anywhere private is not called at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_private_network: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private_network = self.allow_private_network;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // port 0: reqwest puts the URL's port (or the scheme's) in afterwards
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                check_ip(&host, addr.ip(), allow_private_network)
                    .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Follows at most `max_redirects` redirects (none: a 3xx is returned as it is), and never one
/// whose target fails [`check_url`]. reqwest itself drops `Authorization`, `Cookie` and
/// `Proxy-Authorization` when a redirect changes the host or port (`remove_sensitive_headers`
/// in its `redirect.rs`), so a bearer token never follows the call to another host.
pub(crate) fn redirect_policy(
    max_redirects: usize,
    allow_private_network: bool,
) -> redirect::Policy {
    if max_redirects == 0 {
        return redirect::Policy::none();
    }
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            return attempt.error(TooManyRedirects(max_redirects));
        }
        match check_url(attempt.url(), allow_private_network) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    })
}

#[derive(Debug)]
struct TooManyRedirects(usize);

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} redirects", self.0)
    }
}

impl StdError for TooManyRedirects {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressRange;

    fn check(url: &str, allow: bool) -> Result<(), Refused> {
        check_url(&Url::parse(url).unwrap(), allow)
    }

    #[test]
    fn literal_hosts_are_checked() {
        let refused = check("http://127.0.0.1:8080/x", false).unwrap_err();
        assert_eq!(refused.host, "127.0.0.1");
        assert_eq!(
            refused.reason,
            Refusal::Address {
                ip: "127.0.0.1".parse().unwrap(),
                range: AddressRange::Loopback
            }
        );
        assert!(check("http://[::1]/", false).is_err());
        assert!(check("http://[::ffff:127.0.0.1]/", false).is_err());
        assert!(check("http://169.254.169.254/latest/meta-data/", false).is_err());
        assert!(check("http://[fd00:ec2::254]/", false).is_err());
        // the URL parser reads the other spellings of IPv4 addresses as addresses
        assert!(check("http://0x7f.1/", false).is_err());
        assert!(check("http://2130706433/", false).is_err());
        assert!(check("http://0/", false).is_err());

        assert!(check("https://8.8.8.8/", false).is_ok());
        assert!(check("http://127.0.0.1:8080/x", true).is_ok());
        // `localhost` is loopback by definition; other names are left to the resolver
        assert!(check("http://localhost/", false).is_err());
        assert!(check("http://LocalHost./", false).is_err());
        assert!(check("http://api.localhost:8080/", false).is_err());
        assert!(check("http://localhost:8080/", true).is_ok());
        assert!(check("http://localhost.example.com/", false).is_ok());
    }

    #[test]
    fn only_http_with_a_host() {
        let refused = check("file:///etc/passwd", true).unwrap_err();
        assert_eq!(refused.reason, Refusal::Scheme("file".into()));
        assert!(check("ftp://example.com/", true).is_err());
        let refused = check("data:text/plain,hello", true).unwrap_err();
        assert_eq!(refused.reason, Refusal::Scheme("data".into()));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        let resolver = GuardedResolver {
            allow_private_network: false,
        };
        let err = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        let refused = err.downcast_ref::<Refused>().expect("a refusal");
        assert_eq!(refused.host, "localhost");
        assert!(matches!(
            refused.reason,
            Refusal::Address {
                range: AddressRange::Loopback,
                ..
            }
        ));

        let allowed = GuardedResolver {
            allow_private_network: true,
        };
        let addrs: Vec<_> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    /// The policy on its own (the client's resolver would refuse the first, loopback, hop):
    /// a redirect to a private literal address is not followed.
    #[tokio::test]
    async fn the_redirect_policy_refuses_private_literal_targets() {
        use wiremock::{matchers::path, Mock, MockServer, ResponseTemplate};

        let first = MockServer::start().await;
        let second = MockServer::start().await;
        Mock::given(path("/start"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/inside", second.uri()).as_str()),
            )
            .mount(&first)
            .await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirect_policy(3, false))
            .build()
            .unwrap();

        let err = client
            .get(format!("{}/start", first.uri()))
            .send()
            .await
            .unwrap_err();
        let err = crate::error::from_reqwest(err);
        assert!(
            matches!(
                &err,
                crate::OutboundError::Refused {
                    host,
                    reason: Refusal::Address {
                        range: AddressRange::Loopback,
                        ..
                    }
                } if host == "127.0.0.1"
            ),
            "{err:?}"
        );
        assert_eq!(first.received_requests().await.unwrap().len(), 1);
        assert_eq!(second.received_requests().await.unwrap().len(), 0);
    }
}
