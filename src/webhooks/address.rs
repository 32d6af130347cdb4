//! Which webhook URLs slotline will call: `https://` only, no user info, and no host that is
//! (or resolves to) a loopback, private, link-local or otherwise internal address, unless
//! `SLOTLINE_WEBHOOKS_ALLOW_PRIVATE=1` (tests, self-hosting), which also permits `http://`.
//! The check runs at creation and again at every delivery: [`CheckedResolver`] is the
//! HTTP client's only DNS resolver, so the addresses checked are the addresses connected
//! to (no second lookup an attacker's DNS could answer differently).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

/// Why `ip` is not a public address, if it is not.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let first = s[0];
    // IPv4 carried inside IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the old
    // IPv4-compatible form (::a.b.c.d) reach the IPv4 address they embed.
    let embedded = match s {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => {
            Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
        }
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    };
    if let Some(why) = embedded.and_then(internal_v4) {
        return Some(why);
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// Parses and checks a webhook URL without resolving it (an IP-literal host is checked
/// here); the message says what to fix.
pub fn parse(url: &str, allow_private: bool) -> Result<Url, String> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        format!("{url:?} is not a URL ({e}); use one like https://hooks.example.com/slotline")
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => {
            return Err(format!(
                "{url:?} must start with https:// (webhooks carry customer data)"
            ));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{url:?} carries a user name or password; authenticate with the webhook signature instead"
        ));
    }
    let Some(host) = parsed.host_str() else {
        return Err(format!("{url:?} has no host"));
    };
    let ip = literal_ip(host);
    if let Some(ip) = ip
        && !allow_private
        && let Some(why) = internal(ip)
    {
        return Err(refusal(url, ip, why));
    }
    Ok(parsed)
}

/// The address of an IP-literal host (`10.0.0.1`, `[::1]`).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn refusal(url: &str, ip: IpAddr, why: &str) -> String {
    format!(
        "{url:?} reaches {ip}, {why}; webhooks go only to public addresses (SLOTLINE_WEBHOOKS_ALLOW_PRIVATE=1 allows internal ones)"
    )
}

/// Resolves `host` and refuses it if any address is internal (unless allowed).
async fn resolve_host(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve to any address"));
    }
    if !allow_private
        && let Some((ip, why)) = addrs
            .iter()
            .find_map(|a| internal(a.ip()).map(|why| (a.ip(), why)))
    {
        return Err(refusal(host, ip, why));
    }
    Ok(addrs)
}

/// [`parse`], then resolves the host and checks every address (at creation).
pub async fn check(url: &str, allow_private: bool) -> Result<Url, String> {
    let parsed = parse(url, allow_private)?;
    if let Some(host) = parsed.host_str().filter(|h| literal_ip(h).is_none()) {
        let port = parsed.port_or_known_default().unwrap_or(443);
        resolve_host(host, port, allow_private)
            .await
            .map_err(|e| format!("{url:?}: {e}"))?;
    }
    Ok(parsed)
}

/// The webhook client's DNS resolver: resolves, then refuses a name with any internal
/// address, so the connection goes only to an address that passed the check.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    /// `SLOTLINE_WEBHOOKS_ALLOW_PRIVATE`.
    pub allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_host(&host, 0, allow).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_named() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "::10.0.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(internal(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_public_and_without_credentials() {
        assert!(parse("https://hooks.example.com/x", false).is_ok());
        let http = parse("http://hooks.example.com/x", false).unwrap_err();
        assert!(http.contains("https://"), "{http}");
        assert!(parse("http://hooks.example.com/x", true).is_ok());
        let creds = parse("https://u:p@hooks.example.com/", false).unwrap_err();
        assert!(creds.contains("password"), "{creds}");
        let private = parse("https://10.0.0.7/hook", false).unwrap_err();
        assert!(private.contains("a private address"), "{private}");
        let metadata = parse("https://[::ffff:169.254.169.254]/", false).unwrap_err();
        assert!(metadata.contains("link-local"), "{metadata}");
        assert!(parse("https://10.0.0.7/hook", true).is_ok());
        assert!(parse("not a url", false).unwrap_err().contains("not a URL"));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_after_resolution() {
        let err = check("https://localhost/hook", false).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(check("https://localhost/hook", true).await.is_ok());
    }
}
