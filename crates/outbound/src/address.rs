//! Which IP addresses an outbound call may not reach: loopback, private, link-local, metadata…

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A range of addresses an outbound call refuses unless private networks are allowed
/// (`LAYERS_ALLOW_PRIVATE_NETWORK=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRange {
    /// `0.0.0.0/8` ("this network") and `::`.
    Unspecified,
    /// `127.0.0.0/8` and `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and unique local IPv6 (`fc00::/7`).
    Private,
    /// `169.254/16` and `fe80::/10` (and the deprecated site-local `fec0::/10`).
    LinkLocal,
    /// A cloud provider's instance metadata service (`169.254.169.254`, `fd00:ec2::254`).
    CloudMetadata,
    /// Carrier-grade NAT's shared address space, `100.64.0.0/10`.
    SharedAddressSpace,
    /// `255.255.255.255`.
    Broadcast,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// Other special-purpose ranges no public server lives in: IETF assignments
    /// (`192.0.0.0/24`), documentation (`192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`,
    /// `2001:db8::/32`), benchmarking (`198.18/15`, `2001:2::/48`), the 6to4 relay anycast
    /// (`192.88.99.0/24`), `240.0.0.0/4`, the IPv4-compatible `::/96`, IPv4-mapped
    /// `::ffff:0:0/96` and IPv4-translated `::ffff:0:0:0/96` addresses, local-use NAT64
    /// (`64:ff9b:1::/48`), Teredo (`2001::/32`) and discard-only `100::/64`: each either leads
    /// somewhere no public name should point or tunnels to an address the guard cannot see.
    Reserved,
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressRange::Unspecified => "an unspecified address",
            AddressRange::Loopback => "a loopback address",
            AddressRange::Private => "a private network address",
            AddressRange::LinkLocal => "a link-local address",
            AddressRange::CloudMetadata => "a cloud metadata address",
            AddressRange::SharedAddressSpace => "a carrier-grade NAT address",
            AddressRange::Broadcast => "the broadcast address",
            AddressRange::Multicast => "a multicast address",
            AddressRange::Reserved => "a reserved address",
        })
    }
}

/// The refused range `ip` belongs to, or `None` for an address an outbound call may reach.
///
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they lead to.
pub fn refused_range(ip: IpAddr) -> Option<AddressRange> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<AddressRange> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some(AddressRange::CloudMetadata)
    } else if ip.is_broadcast() {
        Some(AddressRange::Broadcast)
    } else if a == 0 {
        Some(AddressRange::Unspecified)
    } else if ip.is_loopback() {
        Some(AddressRange::Loopback)
    } else if ip.is_private() {
        Some(AddressRange::Private)
    } else if ip.is_link_local() {
        Some(AddressRange::LinkLocal)
    } else if a == 100 && (b & 0xc0) == 64 {
        Some(AddressRange::SharedAddressSpace)
    } else if ip.is_multicast() {
        Some(AddressRange::Multicast)
    } else if (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b & 0xfe) == 18)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 240
    {
        Some(AddressRange::Reserved)
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<AddressRange> {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        // a public server has a plain IPv4 address; the embedded one names the range when
        // it is a private one
        return refused_v4(v4).or(Some(AddressRange::Reserved));
    }
    // IPv4-translated (`::ffff:0:a.b.c.d`)
    if segments[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return refused_v4(embedded_v4(segments[6], segments[7])).or(Some(AddressRange::Reserved));
    }
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some(AddressRange::CloudMetadata);
    }
    if ip.is_unspecified() {
        return Some(AddressRange::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressRange::Loopback);
    }
    // NAT64 (well-known prefix): the gateway would carry the call to the embedded IPv4 address
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refused_v4(embedded_v4(segments[6], segments[7]));
    }
    // local-use NAT64, Teredo, documentation, benchmarking, discard-only
    if segments[..3] == [0x64, 0xff9b, 1]
        || segments[..2] == [0x2001, 0]
        || segments[..2] == [0x2001, 0xdb8]
        || segments[..3] == [0x2001, 2, 0]
        || segments[..4] == [0x100, 0, 0, 0]
    {
        return Some(AddressRange::Reserved);
    }
    // 6to4: the relay would carry the call to the embedded IPv4 address
    if segments[0] == 0x2002 {
        return refused_v4(embedded_v4(segments[1], segments[2]));
    }
    match segments[0] {
        s if (s & 0xfe00) == 0xfc00 => Some(AddressRange::Private),
        s if (s & 0xffc0) == 0xfe80 || (s & 0xffc0) == 0xfec0 => Some(AddressRange::LinkLocal),
        s if (s & 0xff00) == 0xff00 => Some(AddressRange::Multicast),
        // IPv4-compatible (`::a.b.c.d`), deprecated since 2006: nothing public lives there
        0 if segments[1..6] == [0, 0, 0, 0, 0] => Some(AddressRange::Reserved),
        _ => None,
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Option<AddressRange> {
        refused_range(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        use AddressRange::*;
        let cases = [
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("169.254.0.1", Some(LinkLocal)),
            ("169.254.169.254", Some(CloudMetadata)),
            ("100.64.0.1", Some(SharedAddressSpace)),
            ("100.127.255.255", Some(SharedAddressSpace)),
            ("100.100.100.200", Some(SharedAddressSpace)),
            ("255.255.255.255", Some(Broadcast)),
            ("224.0.0.1", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.0.170", Some(Reserved)),
            ("198.18.0.1", Some(Reserved)),
            ("192.0.2.1", Some(Reserved)),
            ("198.51.100.7", Some(Reserved)),
            ("203.0.113.200", Some(Reserved)),
            ("192.88.99.1", Some(Reserved)),
            // public neighbours of the ranges above
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("169.253.255.255", None),
            ("192.167.255.255", None),
            ("198.20.0.0", None),
            ("192.0.3.0", None),
            ("198.51.101.0", None),
            ("203.0.114.0", None),
            ("192.88.100.0", None),
            ("223.255.255.255", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        use AddressRange::*;
        let cases = [
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fec0::1", Some(LinkLocal)),
            ("ff02::1", Some(Multicast)),
            ("::7f00:1", Some(Reserved)),
            ("2606:4700:4700::1111", None),
            ("2001:db8::1", Some(Reserved)),
            ("2001::1", Some(Reserved)),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some(Reserved)),
            ("2001:2::1", Some(Reserved)),
            ("64:ff9b:1::7f00:1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("2001:4860:4860::8888", None),
            ("fbff::1", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_judged_by_the_ipv4_address() {
        use AddressRange::*;
        let cases = [
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:169.254.169.254", Some(CloudMetadata)),
            ("::ffff:0.0.0.0", Some(Unspecified)),
            ("::ffff:8.8.8.8", Some(Reserved)),
            ("::ffff:0:127.0.0.1", Some(Loopback)),
            ("::ffff:0:8.8.8.8", Some(Reserved)),
            ("64:ff9b::7f00:1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(CloudMetadata)),
            ("64:ff9b::808:808", None),
            ("2002:7f00:1::", Some(Loopback)),
            ("2002:c0a8:101::1", Some(Private)),
            ("2002:808:808::1", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(range(ip), expected, "{ip}");
        }
    }
}
