//! UAPI (reading any wireguard-go of the lab) (part of [the failover lab](super)).

use super::*;

/// One peer as wireguard-go reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UapiPeer {
    /// Base64, as the API shows keys.
    pub public_key: String,
    pub endpoint: Option<String>,
    pub last_handshake_s: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

fn hex_to_base64(hex: &str) -> Option<String> {
    if hex.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes?))
}

/// The peers of the interface behind the UAPI socket `sock` (`get=1`); `Err` when there is no
/// such interface or it does not answer.
pub fn uapi_peers(sock: &Path) -> Result<Vec<UapiPeer>, String> {
    let text = crate::wg::uapi_get(sock)?;
    let mut peers: Vec<UapiPeer> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "public_key" => peers.push(UapiPeer {
                public_key: hex_to_base64(v).unwrap_or_else(|| v.to_string()),
                endpoint: None,
                last_handshake_s: 0,
                rx_bytes: 0,
                tx_bytes: 0,
            }),
            "errno" if v != "0" => return Err(format!("{}: errno={v}", sock.display())),
            _ => {
                if let Some(p) = peers.last_mut() {
                    match k {
                        "endpoint" => p.endpoint = Some(v.to_string()),
                        "last_handshake_time_sec" => p.last_handshake_s = v.parse().unwrap_or(0),
                        "rx_bytes" => p.rx_bytes = v.parse().unwrap_or(0),
                        "tx_bytes" => p.tx_bytes = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(peers)
}

/// The set of public keys (base64) an interface carries; empty when it does not answer.
pub fn uapi_keys(sock: &Path) -> BTreeSet<String> {
    uapi_peers(sock).map(|ps| ps.into_iter().map(|p| p.public_key).collect()).unwrap_or_default()
}
