//! Node ids as certificate names. A node id is put in the certificate as a DNS SAN and checked
//! by webpki as a DNS name, so on top of the model's rule (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most
//! 63 characters) [`check_node_id`] refuses ids that are not valid DNS names: an empty label
//! (`a..b`, a trailing `.`), a label that starts or ends with `-`, and a last label that is all
//! digits or `0x…` hex (it would read as an IP address, e.g. `10.0.0.1` or `router.1`).
//! Underscores are fine: rustls-pki-types and webpki accept `_` in DNS names. DNS names compare
//! case-insensitively, so two node ids that differ only in case would match each other's
//! certificates: the daemon should refuse such a pair.

use super::PkiError;
use rustls::pki_types::ServerName;

/// Checks that `id` can be a router's certificate name (see the module doc for the rule).
pub fn check_node_id(id: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::InvalidNodeId { id: id.escape_debug().to_string(), reason: reason.to_string() };
    if id.is_empty() {
        return Err(bad("must not be empty"));
    }
    if id.len() > 63 {
        return Err(bad("is longer than 63 characters"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad("must start with a letter or digit"));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
        return Err(bad(&format!("contains {c:?}; allowed are letters, digits and _.-")));
    }
    let labels: Vec<&str> = id.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(bad("has an empty DNS label ('..' or a trailing '.'), so it is no valid certificate name"));
    }
    if labels.iter().any(|l| l.starts_with('-') || l.ends_with('-')) {
        return Err(bad("has a DNS label that starts or ends with '-', so it is no valid certificate name"));
    }
    if let Some(last) = labels.last() {
        let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")).is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        if hex || last.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("ends in a number, so it would read as an IP address; add a letter to the last part"));
        }
    }
    // The rules above are meant to equal rustls' own; keep rustls as the final word.
    match ServerName::try_from(id) {
        Ok(ServerName::DnsName(_)) => Ok(()),
        _ => Err(bad("is not a valid DNS name for a certificate")),
    }
}
