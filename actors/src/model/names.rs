//! Validated identifiers: `ConfigName` (Linux interface name rules), `NodeId`, `PeerId`.
//! Each parses from a string and refuses what could break a path, a file name or an ifname.

use super::quote_prefix;
use super::InvalidField;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_newtype {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(ConfigName);
string_newtype!(NodeId);
string_newtype!(PeerId);

impl ConfigName {
    /// Linux ifname rules: 1–15 bytes of `[A-Za-z0-9_=+.-]`, not `.` or `..`.
    pub fn parse(field: &str, s: &str) -> Result<Self, InvalidField> {
        if s.is_empty() {
            return Err(InvalidField::new(field, "must not be empty"));
        }
        if s.len() > 15 {
            return Err(InvalidField::new(field, format!("{} is longer than 15 characters", quote_prefix(s))));
        }
        if s == "." || s == ".." {
            return Err(InvalidField::new(field, format!("'{s}' is not a valid interface name")));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "_=+.-".contains(*c))) {
            return Err(InvalidField::new(field, format!("{} contains {:?}; allowed are letters, digits and _=+.-", quote_prefix(s), c)));
        }
        Ok(Self(s.to_string()))
    }
}

impl NodeId {
    /// 1–63 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit (a hostname fits).
    pub fn parse(field: &str, s: &str) -> Result<Self, InvalidField> {
        if s.is_empty() {
            return Err(InvalidField::new(field, "must not be empty"));
        }
        if s.len() > 63 {
            return Err(InvalidField::new(field, "is longer than 63 characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(InvalidField::new(field, format!("{} must start with a letter or digit", quote_prefix(s))));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
            return Err(InvalidField::new(field, format!("{} contains {:?}; allowed are letters, digits and _.-", quote_prefix(s), c)));
        }
        Ok(Self(s.to_string()))
    }
}

impl PeerId {
    /// Peer ids are made by the daemon (16 hex digits); a path segment is checked against that shape.
    pub fn parse(field: &str, s: &str) -> Result<Self, InvalidField> {
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(InvalidField::new(field, format!("{} is not a peer id", quote_prefix(s))));
        }
        Ok(Self(s.to_string()))
    }

    /// A fresh random id.
    pub fn random() -> Self {
        let mut b = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        Self(hex::encode(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names() {
        let cases: &[(&str, bool)] = &[
            ("wg0", true),
            ("a", true),
            ("wg_office.1=+-", true),
            ("123456789012345", true),
            ("1234567890123456", false),
            ("", false),
            (".", false),
            ("..", false),
            ("wg/0", false),
            ("wg 0", false),
            ("wg0\n", false),
            ("wgé", false),
        ];
        for (input, ok) in cases {
            assert_eq!(ConfigName::parse("name", input).is_ok(), *ok, "{input:?}");
        }
        let err = ConfigName::parse("name", "a/b").unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.reason.contains('/'), "{err}");
    }

    #[test]
    fn node_ids() {
        let cases: &[(&str, bool)] = &[
            ("node1", true),
            ("OpenWrt", true),
            ("r-1.lan", true),
            ("", false),
            ("-x", false),
            ("a b", false),
            ("a/b", false),
            (&"x".repeat(64), false),
        ];
        for (input, ok) in cases {
            assert_eq!(NodeId::parse("node_id", input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn peer_ids() {
        assert!(PeerId::parse("peer_id", "0123abcd").is_ok());
        assert!(PeerId::parse("peer_id", "../x").is_err());
        assert!(PeerId::parse("peer_id", "").is_err());
        assert_eq!(PeerId::random().as_str().len(), 16);
    }
}
