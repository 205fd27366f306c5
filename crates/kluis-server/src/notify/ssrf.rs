//! Which addresses a delivery may reach: the public internet only (unless the owner allows
//! local ones with `kluis serve --allow-local-webhooks`), so that a business's URL cannot make
//! the owner's machine call services only it can reach (SSRF).

use std::net::{IpAddr, SocketAddr};

/// Why a destination is not contacted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The URL or its host name could not be used or resolved; the words say why.
    Unusable(String),
    /// It leads to this address, which is not public.
    Private(IpAddr),
}

/// The addresses `host` stands for (an IP literal, or what a name resolves to), every one of
/// them public: a name with any non-public address is refused as a whole, and the caller
/// connects only to addresses returned here.
pub(crate) async fn public_addresses(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    let found: Vec<SocketAddr> = match literal {
        Ok(ip) => vec![SocketAddr::from((ip, port))],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Refusal::Unusable(format!("{host} could not be resolved: {e}")))?
            .collect(),
    };
    if found.is_empty() {
        return Err(Refusal::Unusable(format!("{host} has no address")));
    }
    match found.iter().find(|a| !is_public(a.ip())) {
        Some(local) => Err(Refusal::Private(local.ip())),
        None => Ok(found),
    }
}

/// [`public_addresses`] of a URL's host.
pub(crate) async fn check_url(url: &str) -> Result<Vec<SocketAddr>, Refusal> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Refusal::Unusable(format!("not a usable URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Refusal::Unusable("the URL has no host".into()))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    public_addresses(host, port).await
}

/// Whether an address belongs to the public internet, as far as its range tells.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
                || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // 6to4 (RFC 3056) carries an IPv4 address, which is what gets reached.
            if s[0] == 0x2002 {
                let [a, b] = s[1].to_be_bytes();
                let [c, d] = s[2].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            // Only global unicast (2000::/3), less documentation and Teredo; NAT64, IPv4-
            // compatible, site-local and every other range are not contacted.
            (s[0] & 0xe000) == 0x2000
                && !(s[0] == 0x2001 && s[1] == 0x0db8)
                && !(s[0] == 0x2001 && s[1] == 0x0000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        let public = [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "2002:0808:0808::1",
        ];
        let local = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::7f00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "fec0::1",
            "100::1",
            "2001:db8::1",
            "2001::1",
            "192.0.0.8",
            "192.88.99.1",
        ];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in local {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
