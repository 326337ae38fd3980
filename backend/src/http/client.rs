//! Who a request comes from and which site it was made to: the socket's peer, or — only
//! when that peer is a trusted proxy — the address the proxy forwarded; whether it came over
//! HTTPS; this site's origin as the browser sees it ([`Site`]); and the key per-client
//! limits count under.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::http::request::Parts;

use crate::AppState;
use crate::config::Config;
use crate::http::connections::LocalAddr;

/// The TCP peer's address, when the request came through the server's accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// Whether `peer` is one of the trusted proxies, whose forwarding headers are believed.
pub fn is_trusted_proxy(peer: Option<IpAddr>, trusted_proxies: &[IpAddr]) -> bool {
    peer.is_some_and(|peer| trusted_proxies.contains(&peer))
}

/// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    let unknown = IpAddr::from([0, 0, 0, 0]);
    let Some(peer) = peer else { return unknown };
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|hop| !trusted_proxies.contains(hop))
        .unwrap_or(peer)
}

/// Whether the browser reached us over HTTPS: a trusted proxy says so in
/// `X-Forwarded-Proto`. (The server itself speaks plain HTTP.)
pub fn came_over_https(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> bool {
    is_trusted_proxy(peer, trusted_proxies)
        && headers
            .get("x-forwarded-proto")
            .and_then(|proto| proto.to_str().ok())
            .and_then(|proto| proto.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A request's client and site, resolved once from what can be believed, for every use:
/// per-client limits and logs ([`Site::client`]), the `Secure` cookie ([`Site::https`]),
/// the origin cookie-signed admin requests must come from and wheel URLs are built on
/// ([`Site::origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The client's address ([`client_ip`]).
    pub client: IpAddr,
    /// Whether the browser reached this site over HTTPS: the public URL is `https:`, or a
    /// trusted proxy says so.
    pub https: bool,
    /// This site's origin (`scheme://host[:port]`): the configured public URL's; else a
    /// trusted proxy's `X-Forwarded-Proto` and `X-Forwarded-Host` (or `Host`); else, for a
    /// client talking to us directly, `http://` and its `Host` only when that names this
    /// server (`localhost` or the address it connected to, at the port it connected to),
    /// and otherwise the address it connected to. A direct client's other `Host` values are
    /// never repeated: a cache in front of an unconfigured server would keep them for others.
    pub origin: String,
}

impl Site {
    /// Resolves a request's site: `peer` is the TCP peer, `local` the address it connected
    /// to.
    pub fn of(
        config: &Config,
        peer: Option<IpAddr>,
        local: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Self {
        let trusted = &config.trusted_proxy;
        let forwarded_https = came_over_https(peer, headers, trusted);
        Self {
            client: client_ip(peer, headers, trusted),
            https: forwarded_https
                || config
                    .public_url
                    .as_ref()
                    .is_some_and(|url| url.scheme() == "https"),
            origin: origin(config, peer, local, headers, forwarded_https),
        }
    }
}

impl FromRequestParts<AppState> for Site {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(Peer(peer)) = Peer::from_request_parts(parts, state).await;
        let local = parts
            .extensions
            .get::<LocalAddr>()
            .map(|LocalAddr(address)| *address);
        Ok(Self::of(state.config(), peer, local, &parts.headers))
    }
}

/// [`Site::origin`].
fn origin(
    config: &Config,
    peer: Option<IpAddr>,
    local: Option<SocketAddr>,
    headers: &HeaderMap,
    forwarded_https: bool,
) -> String {
    if let Some(public) = &config.public_url {
        return public.origin().ascii_serialization();
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|host| is_host(host))
    };
    if is_trusted_proxy(peer, &config.trusted_proxy) {
        let host = text("x-forwarded-host")
            .or_else(|| text(HOST.as_str()))
            .map_or_else(|| config.addr.to_string(), str::to_owned);
        let scheme = if forwarded_https { "https" } else { "http" };
        return format!("{scheme}://{host}");
    }
    let ours = local.unwrap_or(config.addr);
    match text(HOST.as_str()) {
        Some(host) if names_this_server(host, ours) => format!("http://{host}"),
        _ => format!("http://{ours}"),
    }
}

/// `host[:port]` made of the characters a host name or address literal has.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Whether a `Host` header names this server: `localhost` or the address the client
/// connected to, at the port it connected to.
fn names_this_server(host: &str, ours: SocketAddr) -> bool {
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    if authority.port_u16().unwrap_or(80) != ours.port() {
        return false;
    }
    let name = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address == ours.ip())
}

/// What per-client limits count under: an IPv4 address, or an IPv6 address's /64 — the
/// smallest network one subscriber is given, within which a client can pick any address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Self(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    Self(IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(formatter, "{v4}"),
            IpAddr::V6(v6) => write!(formatter, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9".parse().expect("header"),
        );
        assert_eq!(
            client_ip(Some(client), &headers, &[proxy]),
            client,
            "an untrusted peer is the client"
        );
        assert_eq!(
            client_ip(Some(proxy), &headers, &[proxy]),
            client,
            "the nearest untrusted hop"
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", "https".parse().expect("header"));
        assert!(came_over_https(Some(proxy), &headers, &[proxy]));
        assert!(!came_over_https(Some(stranger), &headers, &[proxy]));
        assert!(!came_over_https(Some(proxy), &HeaderMap::new(), &[proxy]));
    }

    fn site(config: &Config, peer: &str, pairs: &[(&'static str, &str)]) -> Site {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().expect("header"));
        }
        let local: SocketAddr = "192.0.2.5:8080".parse().expect("address");
        Site::of(
            config,
            Some(peer.parse().expect("ip")),
            Some(local),
            &headers,
        )
    }

    #[test]
    fn a_direct_clients_host_is_believed_only_when_it_names_this_server() {
        let config = Config::with_defaults();
        let client = "203.0.113.9";
        for (host, origin) in [
            ("localhost:8080", "http://localhost:8080"),
            ("192.0.2.5:8080", "http://192.0.2.5:8080"),
            ("evil.example:8080", "http://192.0.2.5:8080"),
            ("localhost:9999", "http://192.0.2.5:8080"),
            ("localhost:8080/<script>", "http://192.0.2.5:8080"),
        ] {
            let seen = site(&config, client, &[("host", host)]);
            assert_eq!(seen.origin, origin, "Host: {host}");
            assert!(!seen.https);
            assert_eq!(seen.client.to_string(), client);
        }
        let forged = site(
            &config,
            client,
            &[
                ("host", "localhost:8080"),
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-for", "198.51.100.1"),
            ],
        );
        assert_eq!(
            forged,
            Site {
                client: client.parse().expect("ip"),
                https: false,
                origin: "http://localhost:8080".into(),
            },
            "a stranger's forwarding headers are ignored"
        );
    }

    #[test]
    fn a_trusted_proxy_says_the_site_and_a_public_url_overrides_it() {
        let mut config = Config::with_defaults();
        config.trusted_proxy = vec!["10.0.0.1".parse().expect("ip")];
        let behind = site(
            &config,
            "10.0.0.1",
            &[
                ("host", "internal:8080"),
                ("x-forwarded-host", "workbench.example.org"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-for", "198.51.100.1"),
            ],
        );
        assert_eq!(
            behind,
            Site {
                client: "198.51.100.1".parse().expect("ip"),
                https: true,
                origin: "https://workbench.example.org".into(),
            }
        );
        config.public_url = Some("https://public.example.org/app".parse().expect("url"));
        let public = site(&config, "203.0.113.9", &[("host", "localhost:8080")]);
        assert_eq!(public.origin, "https://public.example.org");
        assert!(public.https, "a https public URL makes cookies Secure");
    }

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64() {
        let key = |text: &str| ClientKey::of(text.parse().expect("ip"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.4"), key("198.51.100.4"));
        assert_ne!(key("198.51.100.4"), key("198.51.100.5"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }
}
