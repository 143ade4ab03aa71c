//! OpenID Connect discovery: the [`KeySource`] that fetches an issuer's keys over HTTP, from
//! `ISSUER/.well-known/openid-configuration` and then its `jwks_uri`, and caches them. The only
//! network I/O of the library; a verifier built on other key sources never reaches it.

use super::keys::{Jwks, KeySource};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Keys by OIDC discovery, cached per issuer.
///
/// Cached keys are used for [`OidcDiscovery::with_max_age`] (default one hour); a token whose
/// key id is not in the cache fetches them again, unless they were fetched less than
/// [`OidcDiscovery::with_min_refresh`] ago (default 30 s), so a stream of tokens with made-up
/// key ids cannot turn into a stream of requests to the issuer. A fetch that fails is not
/// tried again for that same time either: the tokens in between are rejected with its error
/// at once, instead of each waiting for an issuer that does not answer. Issuers must use
/// `https://`; plain `http://` is accepted for loopback hosts only (local test providers).
pub struct OidcDiscovery {
    agent: ureq::Agent,
    cache: Mutex<HashMap<String, Cached>>,
    max_age: Duration,
    min_refresh: Duration,
}

/// What is known of one issuer: its keys when a fetch gave them, and the last fetch's error
/// when the last fetch failed.
#[derive(Default)]
struct Cached {
    keys: Option<(Arc<Jwks>, Instant)>,
    failed: Option<(String, Instant)>,
}

/// The most a discovery document or key set may weigh.
const MAX_BODY: u64 = 1024 * 1024;

impl Default for OidcDiscovery {
    fn default() -> Self {
        OidcDiscovery::new()
    }
}

impl std::fmt::Debug for OidcDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcDiscovery")
            .field("max_age", &self.max_age)
            .field("min_refresh", &self.min_refresh)
            .finish_non_exhaustive()
    }
}

impl OidcDiscovery {
    /// Discovery with a 10-second timeout per fetch.
    pub fn new() -> OidcDiscovery {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .user_agent(concat!("rbac/", env!("CARGO_PKG_VERSION")))
            // Redirects are followed by `get`, which checks each target as it checked the
            // first URL (the client's own would follow one to plain http anywhere).
            .max_redirects(0)
            .build()
            .into();
        OidcDiscovery {
            agent,
            cache: Mutex::new(HashMap::new()),
            max_age: Duration::from_secs(3600),
            min_refresh: Duration::from_secs(30),
        }
    }

    /// How long fetched keys are used before they are fetched again.
    pub fn with_max_age(mut self, max_age: Duration) -> OidcDiscovery {
        self.max_age = max_age;
        self
    }

    /// The least time between two fetches for an unknown key id, and between a failed fetch
    /// and the next.
    pub fn with_min_refresh(mut self, min_refresh: Duration) -> OidcDiscovery {
        self.min_refresh = min_refresh;
        self
    }

    /// The cached keys of `issuer` if younger than `age`, else freshly fetched ones; the last
    /// fetch's error if it failed less than `min_refresh` ago.
    fn keys_younger_than(&self, issuer: &str, age: Duration) -> Result<Arc<Jwks>, String> {
        // The lock is held while fetching: concurrent verifications of one issuer's tokens
        // then wait for one fetch instead of each making their own.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = cache.entry(issuer.to_string()).or_default();
        if let Some((jwks, fetched)) = &cached.keys
            && fetched.elapsed() < age
        {
            return Ok(Arc::clone(jwks));
        }
        if let Some((error, at)) = &cached.failed
            && at.elapsed() < self.min_refresh
        {
            let wait = self.min_refresh.saturating_sub(at.elapsed()).as_secs() + 1;
            return Err(format!("{error} (not fetched again for {wait} s)"));
        }
        match self.fetch(issuer) {
            Ok(jwks) => {
                let jwks = Arc::new(jwks);
                *cached = Cached { keys: Some((Arc::clone(&jwks), Instant::now())), failed: None };
                Ok(jwks)
            }
            // Keys fetched before stay (they are still good for tokens they can verify).
            Err(error) => {
                cached.failed = Some((error.clone(), Instant::now()));
                Err(error)
            }
        }
    }

    fn fetch(&self, issuer: &str) -> Result<Jwks, String> {
        check_url(issuer)?;
        let config_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let config: Value = serde_json::from_str(&self.get(&config_url)?)
            .map_err(|e| format!("the discovery document `{config_url}` is not JSON: {e}"))?;
        // OpenID Connect Discovery 1.0, section 4.3: the document names its issuer exactly.
        match config.get("issuer").and_then(Value::as_str) {
            Some(i) if i == issuer => {}
            Some(i) => return Err(format!("the discovery document `{config_url}` names another issuer, `{i}`")),
            None => return Err(format!("the discovery document `{config_url}` has no `issuer`")),
        }
        let Some(jwks_uri) = config.get("jwks_uri").and_then(Value::as_str) else {
            return Err(format!("the discovery document `{config_url}` has no `jwks_uri`"));
        };
        check_url(jwks_uri)?;
        Jwks::from_json(&self.get(jwks_uri)?).map_err(|e| format!("`{jwks_uri}`: {}", e.message))
    }

    /// The body at `url`, following up to `MAX_REDIRECTS` redirects, each to a URL that
    /// [`check_url`] accepts: a redirect cannot lead to plain http on another host.
    fn get(&self, url: &str) -> Result<String, String> {
        let mut at = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            check_url(&at)?;
            let mut response = self.agent.get(&at).call().map_err(|e| format!("fetching `{at}`: {e}"))?;
            if response.status().is_redirection() {
                let location = response.headers().get("location").and_then(|v| v.to_str().ok());
                let Some(location) = location else { return Err(format!("`{at}` redirects without a `Location`")) };
                at = redirected(&at, location);
                continue;
            }
            return response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()
                .map_err(|e| format!("reading `{at}`: {e}"));
        }
        Err(format!("fetching `{url}`: more than {MAX_REDIRECTS} redirects"))
    }
}

impl KeySource for OidcDiscovery {
    fn keys(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
        self.keys_younger_than(issuer, self.max_age)
    }

    fn refresh(&self, issuer: &str) -> Result<Arc<Jwks>, String> {
        self.keys_younger_than(issuer, self.min_refresh)
    }
}

/// Redirects followed at most when fetching a discovery document or a key set.
const MAX_REDIRECTS: usize = 5;

/// Where a redirect from `from` to `location` leads (RFC 9110 section 10.2.2: `location` may
/// be relative), resolved as RFC 3986 section 5.2 has it: an absolute URL as it is,
/// `//host/...` with `from`'s scheme, `/path` on `from`'s host, `?query` on `from`'s path,
/// another relative path beside `from`'s last segment; `.` and `..` segments removed (5.2.4)
/// and a fragment dropped. The result is checked by [`check_url`] like any other.
fn redirected(from: &str, location: &str) -> String {
    let location = location.split('#').next().unwrap_or("");
    let scheme_end = from.find("://").map_or(0, |i| i + 3);
    let origin_end = origin_end(from, scheme_end);
    let origin = from.get(..origin_end).unwrap_or(from);
    let scheme = location.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if scheme {
        return with_path_resolved(location, location.find("://").map_or(0, |i| i + 3));
    }
    if let Some(rest) = location.strip_prefix("//") {
        let url = format!("{}{rest}", from.get(..scheme_end).unwrap_or(""));
        return with_path_resolved(&url, scheme_end);
    }
    // `from`'s path, without its query or fragment.
    let base = from.get(origin_end..).unwrap_or("");
    let base = base.split(['?', '#']).next().unwrap_or("");
    let (path, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (location, None),
    };
    let merged = if path.is_empty() {
        // `?query` alone (or nothing): `from`'s path with the new query.
        base.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        let dir = base.rfind('/').map_or("/", |i| base.get(..=i).unwrap_or("/"));
        format!("{dir}{path}")
    };
    let mut out = format!("{origin}{}", without_dot_segments(&merged));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    } else if path.is_empty() {
        // Nothing but a fragment or an empty reference: `from` itself, with its query.
        return from.split('#').next().unwrap_or(from).to_string();
    }
    out
}

/// `url` with the `.` and `..` segments of its path removed; its origin ends at the first
/// `/`, `?` or `#` after `authority_start`.
fn with_path_resolved(url: &str, authority_start: usize) -> String {
    let origin_end = origin_end(url, authority_start);
    let rest = url.get(origin_end..).unwrap_or("");
    let (path, query) = match rest.find('?') {
        Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("")),
        None => (rest, ""),
    };
    format!("{}{}{query}", url.get(..origin_end).unwrap_or(url), without_dot_segments(path))
}

/// Where `url`'s origin (scheme and authority) ends: at the first `/`, `?` or `#` after
/// `authority_start`.
fn origin_end(url: &str, authority_start: usize) -> usize {
    url.get(authority_start..).and_then(|rest| rest.find(['/', '?', '#'])).map_or(url.len(), |i| authority_start + i)
}

/// RFC 3986 section 5.2.4: a path without its `.` and `..` segments (`..` above the root
/// stays at the root).
fn without_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." && out.len() > 1 {
                    out.pop();
                }
                // A dot segment at the end leaves the path ending in `/`.
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// `https://` anywhere; `http://` only on a loopback host. The URL is read by the parser the
/// HTTP client itself uses (so `http://localhost:80@example.com/`, whose host is
/// `example.com`, is not taken for loopback), and a user name or password in it is refused:
/// an issuer's URLs carry none, and they could only serve to disguise the host.
fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("`{url}` has a user name or password in it; issuer URLs must not"));
    }
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") => {
            let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            if host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
                Ok(())
            } else {
                Err(format!("`{url}` is plain http on a host that is not loopback; issuers must use https"))
            }
        }
        _ => Err(format!("`{url}` is not an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::{check_url, redirected};

    #[test]
    fn redirects_resolve_against_the_url_they_come_from() {
        let from = "https://idp.example.com/oauth2/keys";
        assert_eq!(redirected(from, "http://192.0.2.2/keys"), "http://192.0.2.2/keys");
        assert_eq!(redirected(from, "//cdn.example.com/k"), "https://cdn.example.com/k");
        assert_eq!(redirected(from, "/v2/keys"), "https://idp.example.com/v2/keys");
        assert_eq!(redirected(from, "keys2?x=http://a"), "https://idp.example.com/oauth2/keys2?x=http://a");
        assert_eq!(redirected("http://127.0.0.1:8080", "jwks"), "http://127.0.0.1:8080/jwks");
        // Each target is then checked as the first URL was.
        assert!(check_url(&redirected("http://127.0.0.1:8080/oidc", "http://192.0.2.2/keys")).is_err());
        assert!(check_url(&redirected("http://127.0.0.1:8080/oidc", "/keys")).is_ok());
    }

    #[test]
    fn redirects_lose_their_dot_segments_and_keep_queries_apart_from_paths() {
        let from = "https://idp.example.com/oauth2/v1/keys?kid=a/b";
        assert_eq!(redirected(from, "../keys2"), "https://idp.example.com/oauth2/keys2");
        assert_eq!(redirected(from, "./k"), "https://idp.example.com/oauth2/v1/k");
        assert_eq!(redirected(from, "../../../../etc"), "https://idp.example.com/etc");
        assert_eq!(redirected(from, "/a/./b/../c"), "https://idp.example.com/a/c");
        assert_eq!(redirected(from, "?x=1"), "https://idp.example.com/oauth2/v1/keys?x=1");
        assert_eq!(redirected(from, "k#frag"), "https://idp.example.com/oauth2/v1/k");
        assert_eq!(redirected(from, ".."), "https://idp.example.com/oauth2/");
        assert_eq!(redirected("https://idp.example.com?a=/x/y", "k"), "https://idp.example.com/k");
        assert_eq!(redirected(from, "https://cdn.example.com/a/../b?c=../d"), "https://cdn.example.com/b?c=../d");
        assert_eq!(redirected(from, "//cdn.example.com/./x"), "https://cdn.example.com/x");
    }

    #[test]
    fn https_everywhere_http_on_loopback_only() {
        assert!(check_url("https://acme.okta.com/oauth2/default").is_ok());
        assert!(check_url("http://127.0.0.1:8080/oidc").is_ok());
        assert!(check_url("http://localhost:3000").is_ok());
        assert!(check_url("http://[::1]:3000/x").is_ok());
        assert!(check_url("http://acme.okta.com").is_err());
        assert!(check_url("http://127.0.0.1.evil.com/").is_err());
        assert!(check_url("ftp://127.0.0.1/").is_err());
        // The host is what follows a user name, as the HTTP client reads it.
        assert!(check_url("http://localhost:80@192.0.2.2/jwks").is_err());
        assert!(check_url("http://127.0.0.1@192.0.2.2/jwks").is_err());
        assert!(check_url("https://user:pw@acme.okta.com/").is_err());
        assert!(check_url("http://[::1]@192.0.2.2/").is_err());
        assert!(check_url("https:///nohost").is_err());
        assert!(check_url("HTTPS://acme.okta.com").is_ok());
    }
}
