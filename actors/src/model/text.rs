//! The one rule for free text that users type (peer and node names) and the bounds of every other
//! string field, plus `quote_prefix`, the one way an error message quotes a rejected value.
//!
//! Why: names end up in wg-quick files (as a comment), in the audit log, in LuCI and in terminals.
//! A newline would add a line to a client config (a `PostUp` runs as root on the client); bidi
//! overrides and zero-width characters make a name look like something else.
//!
//! Rule (`check_text`): trimmed; not empty; at most `max_len` bytes; no character for which
//! [`is_forbidden_char`] holds (every `char::is_control`, U+2028/2029, the bidi controls
//! U+200E/U+200F, U+202A–U+202E, U+2066–U+2069, and the zero-width U+200B–U+200D, U+2060,
//! U+FEFF).

use super::InvalidField;

/// Longest peer or node name, in bytes.
pub const NAME_MAX: usize = 64;
/// How many characters of a rejected value an error message quotes.
pub const QUOTE_MAX: usize = 32;

/// Characters that never belong in a name or in any value written to a text file or header:
/// control characters (C0, DEL, C1: this includes `\n`, `\r`, `\t`, NUL), line and paragraph
/// separators, bidi controls and zero-width characters.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// The first `QUOTE_MAX` characters of `s`, escaped (`\n`, `\u{202e}`, …), with `…` when cut:
/// safe to put in an error message or a log line whatever `s` holds.
pub fn quote_prefix(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    for c in chars.by_ref().take(QUOTE_MAX) {
        if is_forbidden_char(c) || c == '\\' {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    format!("'{out}'")
}

/// Why a string was refused (the field is named by the caller through `InvalidField`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("{quoted} contains the character {code} (control, line break, bidi or zero-width characters are not allowed)")]
    Forbidden { quoted: String, code: String },
}

/// Checks `s` (untrimmed) against the text rule and returns it trimmed.
pub fn text_rule(s: &str, max_len: usize) -> Result<&str, TextError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    if t.len() > max_len {
        return Err(TextError::TooLong { len: t.len(), max: max_len });
    }
    if let Some(c) = t.chars().find(|c| is_forbidden_char(*c)) {
        return Err(TextError::Forbidden { quoted: quote_prefix(t), code: format!("U+{:04X}", c as u32) });
    }
    Ok(t)
}

/// `text_rule` with the field named: the trimmed value, or an error that quotes at most a prefix.
pub fn check_text(field: &str, s: &str, max_len: usize) -> Result<String, InvalidField> {
    text_rule(s, max_len).map(str::to_string).map_err(|e| InvalidField::new(field, e.to_string()))
}

/// A peer or node name: `check_text` with `NAME_MAX`.
pub fn check_name(field: &str, s: &str) -> Result<String, InvalidField> {
    check_text(field, s, NAME_MAX)
}

/// A secret (API token, TSIG key): 1 to `max_len` bytes of printable ASCII without spaces. The
/// message never quotes the value.
pub fn check_secret(field: &str, s: &str, max_len: usize) -> Result<String, InvalidField> {
    let t = s.trim();
    if t.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if t.len() > max_len {
        return Err(InvalidField::new(field, format!("is {} bytes long; at most {max_len} are allowed", t.len())));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidField::new(field, "must be printable ASCII without spaces"));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let long = "x".repeat(NAME_MAX + 1);
        let cases: &[(&str, Option<&str>)] = &[
            ("laptop", Some("laptop")),
            ("  Anna's phone  ", Some("Anna's phone")),
            ("Café ☕ 東京", Some("Café ☕ 東京")),
            (&long[1..], Some(&long[1..])),
            (&long, None),
            ("", None),
            ("   ", None),
            ("a\nb", None),
            ("a\rb", None),
            ("a\0b", None),
            ("a\tb", None),
            ("a\u{7f}b", None),
            ("a\u{85}b", None),
            ("a\u{2028}b", None),
            ("a\u{2029}b", None),
            ("evil\u{202E}txt.exe", None),
            ("a\u{202A}b", None),
            ("a\u{2066}b", None),
            ("a\u{2069}b", None),
            ("a\u{200E}b", None),
            ("a\u{200F}b", None),
            ("a\u{200B}b", None),
            ("a\u{200D}b", None),
            ("a\u{2060}b", None),
            ("\u{FEFF}a", None),
            ("x\n[Interface]\nPostUp = touch /tmp/pwned", None),
        ];
        for (input, want) in cases {
            let got = check_name("name", input);
            assert_eq!(got.as_deref().ok(), *want, "{input:?}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.field, "name");
                assert!(e.to_string().len() < 200, "{e}");
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }

    #[test]
    fn a_huge_value_is_not_echoed() {
        let big = format!("{}\nB", "A".repeat(1 << 20));
        let e = check_text("name", &big, 1 << 21).unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains('…') && e.contains("U+000A"), "{e}");
        let e = check_name("name", &"A".repeat(1 << 20)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_prefix("abc"), "'abc'");
        assert_eq!(quote_prefix("a\nb"), "'a\\nb'");
        assert_eq!(quote_prefix("\u{202e}"), "'\\u{202e}'");
        let q = quote_prefix(&"é".repeat(100));
        assert_eq!(q.chars().count(), QUOTE_MAX + 3);
        assert!(q.ends_with("…'"));
    }

    #[test]
    fn secrets() {
        assert_eq!(check_secret("t", " abc ", 8).unwrap(), "abc");
        for bad in ["", "a b", "a\nb", "ä", &"x".repeat(9)] {
            let e = check_secret("t", bad, 8).unwrap_err().to_string();
            assert!(!bad.is_empty() && !e.contains(bad) || bad.is_empty(), "{e}");
        }
    }
}
