//! The client's address: the connection's peer, or, when that peer is a proxy the operator
//! trusts (an ingress, a load balancer), the nearest address in `X-Forwarded-For` that is not
//! one of the trusted proxies. Rate limits and sign-in limits count by it; without trusted
//! proxies every request behind an ingress would share the ingress's address, and trusting
//! the header from anyone would let a client name any address it likes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client's address, as this module decides it (in the request's extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

/// The proxies whose `X-Forwarded-For` is believed.
pub type TrustedProxies = Arc<Vec<IpNet>>;

/// The client of a request from `peer` with `headers`. Addresses are compared in canonical
/// form: on a dual-stack listener an IPv4 peer arrives as `::ffff:a.b.c.d`.
pub fn client_of(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Each proxy appends the address it saw: read from the right, past our own proxies. A
    // value that is not an address stops the walk there (it was written by the client).
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(address) = hop_address(hop) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (`203.0.113.5:4711`,
/// `[2001:db8::1]:4711`), as some load balancers write it.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))?;
    Some(address.to_canonical())
}

/// Middleware: puts the [`ClientAddress`] in the request's extensions.
pub async fn resolve(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let client = client_of(peer, request.headers(), &trusted);
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let from_ingress = Some(ip("10.1.2.3"));
        let header = forwarded(&["198.51.100.9, 203.0.113.5"]);
        // A stranger's header is ignored: it is the client.
        assert_eq!(
            client_of(Some(ip("203.0.113.77")), &header, &trusted),
            Some(ip("203.0.113.77"))
        );
        // Behind the ingress, the nearest untrusted hop is the client (what a client wrote
        // further left cannot move it).
        assert_eq!(
            client_of(from_ingress, &header, &trusted),
            Some(ip("203.0.113.5"))
        );
        let chained = forwarded(&["203.0.113.5", "10.9.9.9"]);
        assert_eq!(
            client_of(from_ingress, &chained, &trusted),
            Some(ip("203.0.113.5"))
        );
        // No header, or garbage in it: the proxy itself (or the last good hop).
        assert_eq!(
            client_of(from_ingress, &HeaderMap::new(), &trusted),
            from_ingress
        );
        let garbage = forwarded(&["not-an-address, 203.0.113.5"]);
        assert_eq!(
            client_of(from_ingress, &garbage, &trusted),
            Some(ip("203.0.113.5"))
        );
        let only_garbage = forwarded(&["203.0.113.5, <script>"]);
        assert_eq!(
            client_of(from_ingress, &only_garbage, &trusted),
            from_ingress
        );
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; ports are ignored.
        let mapped = Some(ip("::ffff:10.1.2.3"));
        assert_eq!(
            client_of(mapped, &header, &trusted),
            Some(ip("203.0.113.5"))
        );
        let with_ports = forwarded(&["[2001:db8::7]:4711, 203.0.113.5:5678"]);
        assert_eq!(
            client_of(from_ingress, &with_ports, &trusted),
            Some(ip("203.0.113.5"))
        );
        let v6_with_port = forwarded(&["[2001:db8::7]:4711"]);
        assert_eq!(
            client_of(from_ingress, &v6_with_port, &trusted),
            Some(ip("2001:db8::7"))
        );
        // No trusted proxies: the peer, always.
        assert_eq!(client_of(from_ingress, &header, &[]), from_ingress);
        assert_eq!(client_of(None, &header, &trusted), None);
    }
}
