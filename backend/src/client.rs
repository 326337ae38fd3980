//! Who a request comes from: the socket's peer, or — only when that peer is a trusted proxy
//! — the address the proxy forwarded; whether it came over HTTPS; and the key per-client
//! limits count under.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

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
