//! Rendering a peer's client config (wg-quick text) and its QR code (SVG). Pure. The `Endpoint =`
//! value comes from `model::Endpoint` (its `Display`).

use crate::model::{is_forbidden_char, quote_prefix, Config, Peer};
use std::fmt::Write;

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}

/// Why a client config cannot be written: a stored value would not stay on its own line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write {key} into the client config: {quoted} contains a control, line-break, bidi or zero-width character")]
pub struct RenderError {
    pub key: &'static str,
    pub quoted: String,
}

/// The wg-quick text under construction. Every line goes through `key` (refuses a value that is
/// not plain one-line text), `comment` (escapes anything that is not) or `section` (fixed
/// names): no value can add a line, a section or a key.
struct Lines(String);

impl Lines {
    fn section(&mut self, name: &'static str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(name);
        self.0.push('\n');
    }

    fn key(&mut self, key: &'static str, value: &str) -> Result<(), RenderError> {
        if value.chars().any(is_forbidden_char) {
            return Err(RenderError { key, quoted: quote_prefix(value) });
        }
        // wg-quick strips trailing blanks; a leading/trailing space would change nothing, but
        // keep the file canonical.
        let _ = writeln!(self.0, "{key} = {}", value.trim());
        Ok(())
    }

    /// A `# …` line; anything that is not plain text is escaped (`\n`, `\u{202e}`).
    fn comment(&mut self, text: &str) {
        let mut line = String::from("# ");
        for c in text.chars() {
            if is_forbidden_char(c) || c == '\\' {
                line.extend(c.escape_debug());
            } else {
                line.push(c);
            }
        }
        self.0.push_str(&line);
        self.0.push('\n');
    }
}

/// The wg-quick file for `peer`. A peer whose key the client supplied gets a placeholder for its
/// private key: the server never knew it. With `redact`, the private and preshared keys are
/// replaced by a pointer to the download route (the only route that hands keys out).
///
/// Safe by construction: names are escaped into the comment, every other value is refused
/// (`RenderError`) when it holds a control, line-break, bidi or zero-width character.
pub fn client_config(config: &Config, peer: &Peer, endpoint: &str) -> Result<String, RenderError> {
    render(config, peer, endpoint, false)
}

/// `client_config` without secrets (see there).
pub fn client_config_redacted(config: &Config, peer: &Peer, endpoint: &str) -> Result<String, RenderError> {
    render(config, peer, endpoint, true)
}

fn render(config: &Config, peer: &Peer, endpoint: &str, redact: bool) -> Result<String, RenderError> {
    let mut s = Lines(String::new());
    s.section("[Interface]");
    s.comment(&format!("{} ({})", peer.name, config.name));
    match &peer.private_key {
        Some(_) if redact => s.key("PrivateKey", "<secret: download the config file to get it>")?,
        Some(k) => s.key("PrivateKey", &k.to_base64())?,
        None => s.key("PrivateKey", &format!("<the private key of {}>", peer.public_key.to_base64()))?,
    }
    s.key("Address", &join(&peer.addresses))?;
    if !config.dns.is_empty() {
        s.key("DNS", &config.dns.join(", "))?;
    }
    if let Some(mtu) = config.mtu {
        s.key("MTU", &mtu.to_string())?;
    }
    s.section("[Peer]");
    s.key("PublicKey", &config.public_key.to_base64())?;
    match &peer.preshared_key {
        Some(_) if redact => s.key("PresharedKey", "<secret: download the config file to get it>")?,
        Some(psk) => s.key("PresharedKey", &psk.to_base64())?,
        None => {}
    }
    s.key("AllowedIPs", &join(&peer.allowed_ips))?;
    s.key("Endpoint", endpoint)?;
    if let Some(k) = peer.keepalive.filter(|k| *k > 0) {
        s.key("PersistentKeepalive", &k.to_string())?;
    }
    Ok(s.0)
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
            placement: Default::default(),
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
            limits: Default::default(),
            limited: None,
            limit_override: false,
        };
        (config, peer)
    }

    #[test]
    fn renders_wg_quick() {
        let (config, peer) = sample(true);
        let text = client_config(&config, &peer, "vpn.example.com:51820").unwrap();
        assert!(text.contains(&format!("PrivateKey = {}", peer.private_key.unwrap().to_base64())));
        assert!(text.contains("Address = 10.0.0.2/32\n"));
        assert!(text.contains(&format!("PublicKey = {}\n", config.public_key.to_base64())));
        assert!(text.contains("AllowedIPs = 0.0.0.0/0, ::/0\n"));
        assert!(text.contains("Endpoint = vpn.example.com:51820\n"));
        assert!(text.contains("PersistentKeepalive = 25\n"));
        assert!(!text.contains(&config.private_key.to_base64()));
        let (config, peer) = sample(false);
        assert!(client_config(&config, &peer, "x:1").unwrap().contains("PrivateKey = <the private key of"));
    }

    #[test]
    fn hostile_values_are_escaped_or_refused() {
        let (mut config, mut peer) = sample(true);
        peer.name = "x\n[Interface]\nPostUp = touch /tmp/pwned\r\u{202e}".into();
        let text = client_config(&config, &peer, "vpn.example.com:51820").unwrap();
        assert!(!text.contains("\nPostUp") && text.contains("# x\\n[Interface]\\nPostUp"), "{text}");
        assert_eq!(text.matches("[Interface]\n").count(), 1, "{text}");
        config.dns = vec!["1.1.1.1\nPostUp = id".into()];
        let e = client_config(&config, &peer, "x:1").unwrap_err();
        assert_eq!(e.key, "DNS");
        assert!(!e.to_string().contains('\n'), "{e}");
        config.dns.clear();
        assert!(client_config(&config, &peer, "x:1\r\nPreUp = id").is_err());
    }

    /// The keys one rendered file may hold, and the lines it must have.
    fn check_shape(text: &str, config: &Config, peer: &Peer) {
        assert!(!text.chars().any(|c| c != '\n' && is_forbidden_char(c)), "{text:?}");
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.last(), Some(&""), "ends with a newline");
        let lines = &lines[..lines.len() - 1];
        let mut want = vec!["[Interface]", "#", "PrivateKey", "Address"];
        if !config.dns.is_empty() {
            want.push("DNS");
        }
        if config.mtu.is_some() {
            want.push("MTU");
        }
        want.extend(["", "[Peer]", "PublicKey"]);
        if peer.preshared_key.is_some() {
            want.push("PresharedKey");
        }
        want.extend(["AllowedIPs", "Endpoint"]);
        if peer.keepalive.is_some_and(|k| k > 0) {
            want.push("PersistentKeepalive");
        }
        let got: Vec<&str> = lines
            .iter()
            .map(|l| match l {
                l if l.starts_with('[') => l,
                l if l.starts_with("# ") => "#",
                l => l.split_once(" = ").map_or(*l, |(k, _)| k),
            })
            .collect();
        assert_eq!(got, want, "{text}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn no_value_adds_a_line(
            name in proptest::prelude::any::<String>(),
            name_tail in "[\\x00-\\x1f\\x7f\\u{85}\\u{2028}\\u{2029}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}\\u{feff}\\[\\]=#a-z ]{0,12}",
            dns in proptest::collection::vec(proptest::prelude::any::<String>(), 0..3),
            dns_hostile in "[\\n\\r\\x00\\u{2028}a-z\\[\\]=. ]{0,12}",
            endpoint in proptest::prelude::any::<String>(),
            endpoint_hostile in "[\\n\\r\\x0b\\x0c\\u{85}a-z:\\[\\]= ]{0,12}",
            mtu in proptest::option::of(1280u16..9000),
            keepalive in proptest::option::of(0u16..100),
            psk: bool,
        ) {
            let (mut config, mut peer) = sample(true);
            peer.name = format!("{name}{name_tail}");
            config.dns = dns;
            config.dns.push(dns_hostile);
            config.mtu = mtu;
            peer.keepalive = keepalive;
            peer.preshared_key = psk.then(|| generate_keypair().0);
            for ep in [endpoint.as_str(), endpoint_hostile.as_str(), "vpn.example.com:51820"] {
                let clean = config.dns.iter().all(|d| !d.chars().any(is_forbidden_char)) && !ep.chars().any(is_forbidden_char);
                match client_config(&config, &peer, ep) {
                    Ok(text) => check_shape(&text, &config, &peer),
                    Err(e) => proptest::prop_assert!(!clean, "refused a clean value: {e}"),
                }
                match client_config_redacted(&config, &peer, ep) {
                    Ok(text) => {
                        check_shape(&text, &config, &peer);
                        proptest::prop_assert!(!text.contains(&peer.private_key.unwrap().to_base64()));
                    }
                    Err(e) => proptest::prop_assert!(!clean, "refused a clean value: {e}"),
                }
            }
        }
    }

    #[test]
    fn qr_is_svg() {
        let svg = qr_svg("hello").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..60]);
    }
}
