//! Rendering a peer's client config (wg-quick text) and its QR code (SVG). Pure.

use crate::model::{Config, Peer};
use std::fmt::Write;

/// Where a client should send its packets: Mode A the cluster domain, Mode B its node's endpoint.
/// `host` may be a name, an IPv4 or an IPv6 address (bracketed here when needed).
pub fn endpoint(host: &str, port: u16) -> String {
    let host = host.trim();
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host part of a node's `endpoint` option, which may carry a port (`192.0.2.1:51820`,
/// `[2001:db8::1]:51820`, `host.example`).
pub fn endpoint_host(endpoint: &str) -> &str {
    let e = endpoint.trim();
    if let Some(rest) = e.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match e.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => e,
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

/// The wg-quick file for `peer`. A peer whose key the client supplied gets a placeholder for its
/// private key: the server never knew it.
pub fn client_config(config: &Config, peer: &Peer, endpoint: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "[Interface]");
    let _ = writeln!(s, "# {} ({})", peer.name, config.name);
    match &peer.private_key {
        Some(k) => {
            let _ = writeln!(s, "PrivateKey = {}", k.to_base64());
        }
        None => {
            let _ = writeln!(s, "PrivateKey = <the private key of {}>", peer.public_key.to_base64());
        }
    }
    let _ = writeln!(s, "Address = {}", join(&peer.addresses));
    if !config.dns.is_empty() {
        let _ = writeln!(s, "DNS = {}", config.dns.join(", "));
    }
    if let Some(mtu) = config.mtu {
        let _ = writeln!(s, "MTU = {mtu}");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "[Peer]");
    let _ = writeln!(s, "PublicKey = {}", config.public_key.to_base64());
    if let Some(psk) = &peer.preshared_key {
        let _ = writeln!(s, "PresharedKey = {}", psk.to_base64());
    }
    let _ = writeln!(s, "AllowedIPs = {}", join(&peer.allowed_ips));
    let _ = writeln!(s, "Endpoint = {endpoint}");
    if let Some(k) = peer.keepalive.filter(|k| *k > 0) {
        let _ = writeln!(s, "PersistentKeepalive = {k}");
    }
    s
}

/// An SVG QR code of `text`.
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        .map_err(|e| format!("cannot encode the config as a QR code: {e}"))?;
    Ok(code.render::<qrcode::render::svg::Color>().min_dimensions(256, 256).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{generate_keypair, ConfigName, PeerId};

    #[test]
    fn endpoints() {
        let cases = [
            ("vpn.example.com", 51820, "vpn.example.com:51820"),
            ("192.0.2.1", 1, "192.0.2.1:1"),
            ("2001:db8::1", 51820, "[2001:db8::1]:51820"),
            ("[2001:db8::1]", 51820, "[2001:db8::1]:51820"),
        ];
        for (h, p, want) in cases {
            assert_eq!(endpoint(h, p), want);
        }
        let hosts = [
            ("192.0.2.1:51820", "192.0.2.1"),
            ("192.0.2.1", "192.0.2.1"),
            ("[2001:db8::1]:51820", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("r1.example.net:7", "r1.example.net"),
        ];
        for (e, want) in hosts {
            assert_eq!(endpoint_host(e), want, "{e}");
        }
    }

    fn sample(private: bool) -> (Config, Peer) {
        let (cpriv, cpub) = generate_keypair();
        let (ppriv, ppub) = generate_keypair();
        let name = ConfigName::parse("n", "wg0").unwrap();
        let config = Config {
            name: name.clone(),
            private_key: cpriv,
            public_key: cpub,
            addresses: vec!["10.0.0.1/24".parse().unwrap()],
            listen_port: 51820,
            mtu: Some(1420),
            dns: vec!["10.0.0.1".into()],
            peer_allowed_ips: vec!["0.0.0.0/0".parse().unwrap()],
            peer_keepalive: Some(25),
            created_at: 0,
            updated_at: 0,
        };
        let peer = Peer {
            id: PeerId::parse("id", "abcd").unwrap(),
            config: name,
            name: "laptop".into(),
            public_key: ppub,
            private_key: private.then_some(ppriv),
            preshared_key: None,
            addresses: vec!["10.0.0.2/32".parse().unwrap()],
            allowed_ips: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
            keepalive: Some(25),
            enabled: true,
            node_id: None,
            draining_from: None,
            created_at: 0,
            updated_at: 0,
        };
        (config, peer)
    }

    #[test]
    fn renders_wg_quick() {
        let (config, peer) = sample(true);
        let text = client_config(&config, &peer, "vpn.example.com:51820");
        assert!(text.contains(&format!("PrivateKey = {}", peer.private_key.unwrap().to_base64())));
        assert!(text.contains("Address = 10.0.0.2/32\n"));
        assert!(text.contains(&format!("PublicKey = {}\n", config.public_key.to_base64())));
        assert!(text.contains("AllowedIPs = 0.0.0.0/0, ::/0\n"));
        assert!(text.contains("Endpoint = vpn.example.com:51820\n"));
        assert!(text.contains("PersistentKeepalive = 25\n"));
        assert!(!text.contains(&config.private_key.to_base64()));
        let (config, peer) = sample(false);
        assert!(client_config(&config, &peer, "x:1").contains("PrivateKey = <the private key of"));
    }

    #[test]
    fn qr_is_svg() {
        let svg = qr_svg("hello").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..60]);
    }
}
