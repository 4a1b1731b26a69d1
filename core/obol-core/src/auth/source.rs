//! Where a sign-in (or any request) comes from, as limits count it. An IPv4 address is one
//! source; an IPv6 address counts by its /64, the block one subscriber is usually given, so
//! walking through the addresses of one block buys no extra attempts. Anything else a host
//! names (a device id, `local`) is counted as given.

use std::borrow::Cow;
use std::net::IpAddr;

/// The group an address counts in: IPv4 (IPv4-mapped IPv6 included) as itself, other IPv6
/// by its /64 prefix.
pub fn address_group(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// The group a source counts in: an address by [`address_group`], anything else as given.
pub fn source_group(source: &str) -> Cow<'_, str> {
    match source.parse::<IpAddr>() {
        Ok(address) => Cow::Owned(address_group(address)),
        Err(_) => Cow::Borrowed(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_itself() {
        assert_eq!(source_group("203.0.113.7"), "203.0.113.7");
        assert_eq!(source_group("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            source_group("2001:db8:1:2:aaaa::1"),
            source_group("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(
            source_group("2001:db8:1:2::1"),
            source_group("2001:db8:1:3::1")
        );
        assert_eq!(source_group("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(source_group("local"), "local");
        assert_eq!(source_group("device-42"), "device-42");
    }
}
