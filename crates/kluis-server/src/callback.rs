//! Telling a business about the owner's decision: one POST of the request's status to the
//! callback URL it gave. Best effort: the business can always poll, so a failed delivery is
//! reported and never fails the decision. Blocking: the CLI calls it as is, the dashboard on a
//! blocking thread.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use kluis_core::wire::AccessRequestStatus;
use serde_json::{Value, json};

/// How long one delivery may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How a delivery went.
#[derive(Debug)]
pub struct Delivery {
    pub url: String,
    pub delivered: bool,
    /// The HTTP status, or why nothing was answered.
    pub detail: String,
}

impl Delivery {
    pub fn to_json(&self) -> Value {
        json!({ "url": self.url, "delivered": self.delivered, "detail": self.detail })
    }

    /// How it went, in words for the owner.
    pub fn describe(&self) -> String {
        if self.delivered {
            format!("told the business at {} ({})", self.url, self.detail)
        } else {
            format!(
                "could not tell the business at {}: {}; it can still poll for the decision",
                self.url, self.detail
            )
        }
    }
}

/// POSTs `status` as JSON to `url` and says how it went. Redirects are not
/// followed: the business named the one URL it wants the decision at.
///
/// The URL comes from whoever sent the request, and the POST leaves from the owner's machine:
/// unless `allow_local`, a host that is (or resolves to) a loopback, private, link-local or
/// otherwise non-public address is not contacted. The address checked is the one connected to
/// (the name is resolved once and pinned), so a name cannot resolve to a public address for
/// the check and a private one for the connection.
pub fn deliver(url: &str, status: &AccessRequestStatus, allow_local: bool) -> Delivery {
    let outcome = match destination(url, allow_local) {
        Err(refusal) => Err(refusal),
        Ok(pin) => client(pin)
            .and_then(|client| client.post(url).json(status).send())
            .map_err(|err| describe(&err)),
    };
    let (delivered, detail) = match outcome {
        Ok(response) if response.status().is_success() => (true, response.status().to_string()),
        Ok(response) => (false, format!("answered {}", response.status())),
        Err(detail) => (false, detail),
    };
    Delivery {
        url: url.to_owned(),
        delivered,
        detail,
    }
}

/// The name to pin to its checked addresses, when the URL names its host by name.
type Pin = Option<(String, Vec<SocketAddr>)>;

/// Resolves the URL's host and checks where it leads; a refusal says why in words.
fn destination(url: &str, allow_local: bool) -> Result<Pin, String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("not a usable URL: {err}"))?;
    let host = parsed.host().ok_or("the URL has no host")?;
    let port = parsed
        .port_or_known_default()
        .ok_or("the URL has no port")?;
    let (addr, pin) = match host {
        url::Host::Ipv4(ip) => (SocketAddr::from((ip, port)), None),
        url::Host::Ipv6(ip) => (SocketAddr::from((ip, port)), None),
        url::Host::Domain(name) => {
            let found: Vec<SocketAddr> = (name, port)
                .to_socket_addrs()
                .map_err(|err| format!("{name} could not be resolved: {err}"))?
                .collect();
            // Every address the name has must be allowed, not just the first.
            let addr = match found.iter().find(|a| !allow_local && !is_public(a.ip())) {
                Some(local) => *local,
                None => *found.first().ok_or(format!("{name} has no address"))?,
            };
            (addr, Some((name.to_owned(), found)))
        }
    };
    if !allow_local && !is_public(addr.ip()) {
        return Err(format!(
            "not contacted: it leads to {}, an address on this machine or a private network \
             (kluis requests approve/deny --allow-local-callback, or kluis serve --allow-local-callbacks for the dashboard, allows that)",
            addr.ip()
        ));
    }
    Ok(pin)
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

fn client(pin: Pin) -> reqwest::Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kluis/", env!("CARGO_PKG_VERSION")));
    if let Some((name, addrs)) = pin {
        builder = builder.resolve_to_addrs(&name, &addrs);
    }
    // No proxy: a proxy would look the name up again, past the check above.
    builder.no_proxy().build()
}

/// Why a delivery failed, in a few words: the innermost cause (the outer ones repeat the URL).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kluis_core::wire::RequestStatus;

    fn status() -> AccessRequestStatus {
        AccessRequestStatus::undecided(
            "r_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            RequestStatus::Denied,
            vec!["/profile/email".into()],
            0,
        )
    }

    #[test]
    fn a_client_with_tls_builds() {
        // reqwest panics here if it was built with TLS but without a crypto provider.
        assert!(client(None).is_ok());
    }

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

    #[test]
    fn local_callbacks_are_not_contacted_unless_allowed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        for url in [
            format!("http://{addr}/cb"),
            format!("http://localhost:{}/cb", addr.port()),
            format!("http://[::1]:{}/cb", addr.port()),
        ] {
            let delivery = deliver(&url, &status(), false);
            assert!(!delivery.delivered, "{url}");
            assert!(
                delivery.detail.contains("not contacted"),
                "{url}: {}",
                delivery.detail
            );
        }
        assert!(
            listener.accept().is_err(),
            "nothing may have connected to the local listener"
        );
        assert!(destination("http://127.0.0.1:9/", true).is_ok());
        assert!(destination("not a url", true).is_err());
    }

    #[test]
    fn an_unreachable_callback_is_reported_not_raised() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        drop(listener);
        let delivery = deliver(&url, &status(), true);
        assert!(!delivery.delivered);
        assert!(!delivery.detail.is_empty());
        assert_eq!(delivery.to_json()["url"], url);
    }
}
