//! Where webhooks may be sent. A tenant names the URL, and the server sends from inside the
//! deployment: without this rule an endpoint at `http://169.254.169.254/…` or
//! `http://127.0.0.1:…/admin` would make the server call its own network for the tenant (and
//! report what came back). Transports check every address a host name resolves to, at
//! delivery time, so a name that later resolves inward is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses deliveries may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetPolicy {
    /// Public internet addresses only (the default for a deployment).
    #[default]
    PublicOnly,
    /// Any address, private and loopback included (development, tests, or a deployment
    /// whose receivers live on its own network).
    Any,
}

impl TargetPolicy {
    /// Whether a delivery may go to `address`.
    pub fn allows(self, address: IpAddr) -> bool {
        match self {
            TargetPolicy::Any => true,
            TargetPolicy::PublicOnly => is_public(address),
        }
    }
}

/// True for addresses on the public internet: not loopback, private, link-local (cloud
/// metadata), shared (carrier-grade NAT), unspecified, broadcast, multicast, documentation or
/// otherwise reserved, in IPv4 or IPv6. An IPv6 address that carries an IPv4 one (mapped,
/// compatible, SIIT, NAT64, 6to4) is judged by the IPv4 address it reaches.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) if v6.is_loopback() || v6.is_unspecified() => false,
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 one carries: `::a.b.c.d`, `::ffff:a.b.c.d`,
/// `::ffff:0:a.b.c.d` (SIIT), `64:ff9b::a.b.c.d` (NAT64) or `2002:aabb:ccdd::/48` (6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0 | 0xffff, ..] | [0, 0, 0, 0, 0xffff, 0, ..] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        [0x2002, high, low16, ..] => {
            Some(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low16)))
        }
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10: shared address space (carrier-grade NAT, some cloud networks).
        || (a == 100 && (b & 0xC0) == 64)
        // 192.0.0.0/24: protocol assignments; 192.88.99.0/24: 6to4 relays; 198.18.0.0/15:
        // benchmarking; 240/4: reserved.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 192 && b == 88 && ip.octets()[2] == 99)
        || (a == 198 && (b & 0xFE) == 18)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // fec0::/10: site-local; 64:ff9b:1::/48: local NAT64 (its mapping is the network's).
        || (s[0] & 0xFFC0) == 0xFEC0
        || (s[0] == 0x0064 && s[1] == 0xff9b)
        // 100::/64: discard; 2001::/23: IETF assignments (Teredo, benchmarking, ORCHID…);
        // 2001:db8::/32: documentation; 3fff::/20: documentation.
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        || (s[0] == 0x2001 && s[1] < 0x0200)
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && s[1] < 0x1000)
        // Anything outside 2000::/3 is not globally routed unicast.
        || (s[0] & 0xE000) != 0x2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inward_addresses_are_refused_and_public_ones_allowed() {
        for inward in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::a00:5",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:5::1",
            "2001::1",
            "2001:2::1",
            "2001:10::1",
            "100::1",
            "192.88.99.1",
            "::2",
            "4000::1",
        ] {
            let address: IpAddr = inward.parse().unwrap();
            assert!(!is_public(address), "{inward}");
            assert!(!TargetPolicy::PublicOnly.allows(address), "{inward}");
            assert!(TargetPolicy::Any.allows(address), "{inward}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
