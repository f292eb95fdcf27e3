//! Which addresses a notification may not go to.

use std::net::IpAddr;

/// An address a notification may not go to (unless `allow_private`): private, loopback,
/// link-local and the special-purpose ranges of the IANA registries, and every IPv6 form that
/// carries an IPv4 address inside it (a way around the IPv4 checks).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                // 0.0.0.0/8 "this network" (0.0.0.0 included).
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT.
                || (a == 100 && (b & 0xc0) == 64)
                // 192.0.0.0/24, IETF protocol assignments.
                || (a == 192 && b == 0 && c == 0)
                // 198.18.0.0/15, benchmarking.
                || (a == 198 && (b & 0xfe) == 18)
                // 240.0.0.0/4, reserved.
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // ::a.b.c.d (IPv4-compatible, ::/96) and ::ffff:0:a.b.c.d (IPv4-translated).
                || s[..6] == [0; 6]
                || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
                // 64:ff9b::/96 (NAT64) and 64:ff9b:1::/48 (local NAT64).
                || (s[0] == 0x64 && s[1] == 0xff9b)
                // 2002::/16 (6to4) and 2001::/32 (Teredo) embed an IPv4 address.
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
        }
    }
}
