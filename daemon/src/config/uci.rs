//! A reader for OpenWrt UCI files (`/etc/config/*`). It owns the syntax only: `config TYPE ['NAME']`
//! section headers, `option KEY VALUE` and `list KEY VALUE` lines, `#` comments (whole-line or after
//! the last word) and blank lines. Every word may be unquoted, 'single-quoted' (taken literally) or
//! "double-quoted" (a backslash takes the next character literally); adjacent pieces join into one
//! word, as in libuci (`'a'"b"c` is `abc`). A quote must be closed on its own line. As in libuci, a
//! later `option K` replaces an earlier `K` and `list K` appends (turning a single value into a
//! list). What the options mean is the caller's business.

use std::path::{Path, PathBuf};

/// The value of one option: `option` gives `Single`, one or more `list` lines give `List`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UciValue {
    Single(String),
    List(Vec<String>),
}

/// One option of a section; `line` is where it was (last) set, or where its list started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOption {
    pub key: String,
    pub value: UciValue,
    pub line: usize,
}

/// One `config TYPE ['NAME']` section with its options in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciSection {
    pub kind: String,
    pub name: Option<String>,
    pub line: usize,
    pub options: Vec<UciOption>,
}

impl UciSection {
    /// The option called `key`, if the section has it.
    pub fn option(&self, key: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.key == key)
    }

    /// `daemon 'main'` or `daemon (unnamed)`, for messages.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{} '{}'", self.kind, name),
            None => format!("{} (unnamed)", self.kind),
        }
    }
}

/// A syntax error; Display is `FILE:LINE: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UciError {
    /// `context` is e.g. `option 'data_dir'` or `section header`.
    #[error("{}:{line}: unterminated quote in {context}", .path.display())]
    UnterminatedQuote { path: PathBuf, line: usize, context: String },
    /// `what` is e.g. `value for option 'data_dir'` or `section type after 'config'`.
    #[error("{}:{line}: missing {what}", .path.display())]
    MissingValue { path: PathBuf, line: usize, what: String },
    #[error("{}:{line}: {keyword} '{key}' appears before any 'config' section", .path.display())]
    OutsideSection { path: PathBuf, line: usize, keyword: String, key: String },
    #[error(
        "{}:{line}: unknown keyword '{keyword}' (expected 'config', 'option' or 'list')",
        .path.display()
    )]
    BadKeyword { path: PathBuf, line: usize, keyword: String },
    /// `what` is e.g. `option name` or `section type`; `rule` says what is allowed.
    #[error("{}:{line}: invalid {what} '{value}' ({rule})", .path.display())]
    InvalidIdentifier { path: PathBuf, line: usize, what: &'static str, value: String, rule: &'static str },
    #[error("{}:{line}: unexpected text '{text}' after {context}", .path.display())]
    TrailingText { path: PathBuf, line: usize, text: String, context: String },
    /// `column` is the 1-based byte offset of the first bad byte within the line.
    #[error(
        "{}:{line}: not valid UTF-8 text (bad byte at column {column}); UCI files must be UTF-8: fix or retype that line",
        .path.display()
    )]
    NotUtf8 { path: PathBuf, line: usize, column: usize },
}

/// The file's bytes as text, or a `NotUtf8` error naming the line (and column) of the first
/// invalid byte. `path` is only used in messages.
pub fn decode<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, UciError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        UciError::NotUtf8 { path: path.into(), line, column: good.len() - line_start + 1 }
    })
}

/// Parses `text` and stops at the first syntax error. `path` is only used in messages. (Tests and
/// the fuzz target; the daemon reports every error: `parse_all`.)
#[cfg(test)]
pub fn parse(path: &Path, text: &str) -> Result<Vec<UciSection>, UciError> {
    let (sections, mut errors) = parse_all(path, text);
    if errors.is_empty() {
        Ok(sections)
    } else {
        Err(errors.swap_remove(0))
    }
}

/// Parses `text`, skipping bad lines, and returns the sections read plus every syntax error found.
/// Options after a bad section header are dropped without further errors.
pub fn parse_all(path: &Path, text: &str) -> (Vec<UciSection>, Vec<UciError>) {
    let mut sections: Vec<UciSection> = Vec::new();
    let mut errors = Vec::new();
    // false after a bad `config` line: its options belong nowhere and are not reported again.
    let mut section_ok = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let at = Loc { path, line };
        let words = match split_words(raw) {
            Ok(words) => words,
            Err(Unterminated { words }) => {
                let context = match (words.first().map(String::as_str), words.get(1)) {
                    (Some(kw @ ("option" | "list")), Some(key)) => format!("{kw} '{key}'"),
                    (Some("config"), _) => "section header".to_string(),
                    _ => "line".to_string(),
                };
                if words.first().map(String::as_str) == Some("config") {
                    section_ok = false;
                }
                errors.push(UciError::UnterminatedQuote { path: path.into(), line, context });
                continue;
            }
        };
        let Some(keyword) = words.first() else {
            continue;
        };
        match keyword.as_str() {
            "config" => match section_header(&at, &words) {
                Ok(section) => {
                    sections.push(section);
                    section_ok = true;
                }
                Err(e) => {
                    errors.push(e);
                    section_ok = false;
                }
            },
            kw @ ("option" | "list") => {
                let is_list = kw == "list";
                let result = option_line(&at, kw, &words).and_then(|(key, value)| match sections.last_mut() {
                    Some(section) if section_ok => {
                        set_option(section, key, value, is_list, line);
                        Ok(())
                    }
                    Some(_) => Ok(()),
                    None => Err(UciError::OutsideSection { path: path.into(), line, keyword: kw.to_string(), key }),
                });
                if let Err(e) = result {
                    errors.push(e);
                }
            }
            other => errors.push(UciError::BadKeyword { path: path.into(), line, keyword: other.to_string() }),
        }
    }
    (sections, errors)
}

struct Loc<'a> {
    path: &'a Path,
    line: usize,
}

impl Loc<'_> {
    fn missing(&self, what: String) -> UciError {
        UciError::MissingValue { path: self.path.into(), line: self.line, what }
    }

    fn trailing(&self, words: &[String], from: usize, context: String) -> Result<(), UciError> {
        match words.get(from..) {
            Some(rest) if !rest.is_empty() => {
                Err(UciError::TrailingText { path: self.path.into(), line: self.line, text: rest.join(" "), context })
            }
            _ => Ok(()),
        }
    }

    /// Section types follow libuci `uci_validate_type`, names `uci_validate_name`.
    fn ident(&self, what: &'static str, value: &str, is_type: bool) -> Result<(), UciError> {
        let (ok, rule) = if is_type {
            (value.bytes().all(|b| b.is_ascii_graphic()), "printable characters without spaces")
        } else {
            let ok = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            (ok, "letters, digits and '_' only")
        };
        if ok && !value.is_empty() {
            return Ok(());
        }
        let (path, line, value) = (self.path.into(), self.line, value.into());
        Err(UciError::InvalidIdentifier { path, line, what, value, rule })
    }
}

fn section_header(at: &Loc, words: &[String]) -> Result<UciSection, UciError> {
    let kind = words.get(1).ok_or_else(|| at.missing("section type after 'config'".into()))?;
    at.ident("section type", kind, true)?;
    let name = words.get(2).cloned();
    if let Some(name) = &name {
        at.ident("section name", name, false)?;
    }
    at.trailing(words, 3, "section header".into())?;
    Ok(UciSection { kind: kind.clone(), name, line: at.line, options: Vec::new() })
}

fn option_line(at: &Loc, keyword: &str, words: &[String]) -> Result<(String, String), UciError> {
    let key = words.get(1).ok_or_else(|| at.missing(format!("option name after '{keyword}'")))?;
    at.ident("option name", key, false)?;
    let value = words.get(2).ok_or_else(|| at.missing(format!("value for {keyword} '{key}'")))?;
    at.trailing(words, 3, format!("value of {keyword} '{key}'"))?;
    Ok((key.clone(), value.clone()))
}

fn set_option(section: &mut UciSection, key: String, value: String, is_list: bool, line: usize) {
    let existing = section.options.iter_mut().find(|o| o.key == key);
    match (existing, is_list) {
        (Some(opt), false) => {
            opt.value = UciValue::Single(value);
            opt.line = line;
        }
        (Some(opt), true) => match &mut opt.value {
            UciValue::List(items) => items.push(value),
            UciValue::Single(old) => opt.value = UciValue::List(vec![std::mem::take(old), value]),
        },
        (None, _) => {
            let value = if is_list { UciValue::List(vec![value]) } else { UciValue::Single(value) };
            section.options.push(UciOption { key, value, line });
        }
    }
}

/// A quote was not closed; carries the words completed before it, for the message.
struct Unterminated {
    words: Vec<String>,
}

/// Splits one line into words, removing quotes and a trailing comment.
fn split_words(line: &str) -> Result<Vec<String>, Unterminated> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = String::new();
        loop {
            match chars.peek().copied() {
                None | Some('#') => break,
                Some(c) if c.is_whitespace() => break,
                Some(quote @ ('\'' | '"')) => {
                    chars.next();
                    loop {
                        let c = match chars.next() {
                            Some('\\') if quote == '"' => chars.next(),
                            Some(c) if c == quote => break,
                            other => other,
                        };
                        let Some(c) = c else {
                            return Err(Unterminated { words });
                        };
                        word.push(c);
                    }
                }
                Some(c) => {
                    chars.next();
                    word.push(c);
                }
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/config/wgcluster";

    fn single(s: &str) -> UciValue {
        UciValue::Single(s.to_string())
    }

    /// Parses `text` (one section header prepended) and returns option `key` of that section.
    fn value_of(line: &str) -> UciValue {
        let text = format!("config daemon 'main'\n{line}\n");
        let sections = parse(Path::new(FILE), &text).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(sections.len(), 1, "{line:?}");
        assert_eq!(sections[0].options.len(), 1, "{line:?}");
        sections[0].options[0].value.clone()
    }

    fn error_of(text: &str) -> String {
        match parse(Path::new(FILE), text) {
            Ok(s) => panic!("{text:?} parsed: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn quoting_forms() {
        let cases: &[(&str, &str)] = &[
            ("option k 'v'", "v"),
            ("option k \"v\"", "v"),
            ("option k v", "v"),
            ("option 'k' v", "v"),
            ("option \"k\" v", "v"),
            ("option k ''", ""),
            ("option k \"\"", ""),
            ("option k 'a b  c'", "a b  c"),
            ("option k 'it\"s'", "it\"s"),
            ("option k 'back\\slash'", "back\\slash"),
            ("option k \"say \\\"hi\\\"\"", "say \"hi\""),
            ("option k \"a\\\\b\"", "a\\b"),
            ("option k \"it's\"", "it's"),
            ("option k \"a\\nb\"", "anb"),
            ("option k 'a'\"b\"c", "abc"),
            ("option k '#not a comment'", "#not a comment"),
            ("option k \"#nor this\"", "#nor this"),
            ("\toption\tk\t'tabs'\t", "tabs"),
            ("option k 'crlf'\r", "crlf"),
            ("option k 'é ünïcode'", "é ünïcode"),
            ("option k /etc/wgcluster", "/etc/wgcluster"),
            ("option k 127.0.0.1:10086", "127.0.0.1:10086"),
        ];
        for (line, want) in cases {
            assert_eq!(value_of(line), single(want), "{line:?}");
        }
    }

    #[test]
    fn comments_and_blank_lines() {
        let cases: &[(&str, &str)] = &[
            ("option k 'v' # comment", "v"),
            ("option k v# comment", "v"),
            ("option k v #comment 'with quote", "v"),
            ("option k \"v\"#x", "v"),
        ];
        for (line, want) in cases {
            assert_eq!(value_of(line), single(want), "{line:?}");
        }
        let text = "# header\n\n   \n\t# indented\nconfig daemon 'main' # trailing\n\n  option a '1'\n";
        let sections = parse(Path::new(FILE), text).expect("parses");
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].line, 5);
        assert_eq!(sections[0].options, vec![UciOption { key: "a".into(), value: single("1"), line: 7 }]);
    }

    #[test]
    fn sections_names_and_lists() {
        let text = "# wgcluster\n\
                    config daemon 'main'\n\
                    \toption node_id 'r1'\n\
                    \tlist peer 'a'\n\
                    \tlist peer \"b c\"\n\
                    config daemon\n\
                    \toption node_id r2\n\
                    \toption node_id r3\n\
                    config \"peer\" x_1\n\
                    \toption k v\n\
                    \tlist k w\n";
        let sections = parse(Path::new(FILE), text).expect("parses");
        let list = |items: &[&str]| UciValue::List(items.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            sections,
            vec![
                UciSection {
                    kind: "daemon".into(),
                    name: Some("main".into()),
                    line: 2,
                    options: vec![
                        UciOption { key: "node_id".into(), value: single("r1"), line: 3 },
                        UciOption { key: "peer".into(), value: list(&["a", "b c"]), line: 4 },
                    ],
                },
                UciSection {
                    kind: "daemon".into(),
                    name: None,
                    line: 6,
                    options: vec![UciOption { key: "node_id".into(), value: single("r3"), line: 8 }],
                },
                UciSection {
                    kind: "peer".into(),
                    name: Some("x_1".into()),
                    line: 9,
                    options: vec![UciOption { key: "k".into(), value: list(&["v", "w"]), line: 10 }],
                },
            ]
        );
        assert_eq!(sections[0].describe(), "daemon 'main'");
        assert_eq!(sections[1].describe(), "daemon (unnamed)");
        assert_eq!(sections[0].option("peer").map(|o| o.line), Some(4));
        assert!(parse(Path::new(FILE), "").expect("empty file parses").is_empty());
    }

    #[test]
    fn syntax_errors() {
        let f = FILE;
        let cases: &[(&str, String)] = &[
            ("config daemon 'main'\noption data_dir '/etc", format!("{f}:2: unterminated quote in option 'data_dir'")),
            ("config daemon 'main'\nlist peer \"a", format!("{f}:2: unterminated quote in list 'peer'")),
            ("config daemon 'main'\noption k \"a\\", format!("{f}:2: unterminated quote in option 'k'")),
            ("config daemon 'main", format!("{f}:1: unterminated quote in section header")),
            ("option 'k", format!("{f}:1: unterminated quote in line")),
            ("option k v", format!("{f}:1: option 'k' appears before any 'config' section")),
            ("\n\nlist k v", format!("{f}:3: list 'k' appears before any 'config' section")),
            ("config daemon\noption k", format!("{f}:2: missing value for option 'k'")),
            ("config daemon\nlist k # c", format!("{f}:2: missing value for list 'k'")),
            ("config daemon\noption", format!("{f}:2: missing option name after 'option'")),
            ("config", format!("{f}:1: missing section type after 'config'")),
            ("package x", format!("{f}:1: unknown keyword 'package' (expected 'config', 'option' or 'list')")),
            ("configure daemon", format!("{f}:1: unknown keyword 'configure' (expected 'config', 'option' or 'list')")),
            ("config daemon\n  opt k v", format!("{f}:2: unknown keyword 'opt' (expected 'config', 'option' or 'list')")),
            ("config daemon\noption data-dir x", format!("{f}:2: invalid option name 'data-dir' (letters, digits and '_' only)")),
            ("config daemon\noption '' x", format!("{f}:2: invalid option name '' (letters, digits and '_' only)")),
            ("config daemon 'ma in'", format!("{f}:1: invalid section name 'ma in' (letters, digits and '_' only)")),
            ("config 'a b'", format!("{f}:1: invalid section type 'a b' (printable characters without spaces)")),
            ("config daemon main extra", format!("{f}:1: unexpected text 'extra' after section header")),
            ("config daemon\noption k a b", format!("{f}:2: unexpected text 'b' after value of option 'k'")),
        ];
        for (text, want) in cases {
            assert_eq!(&error_of(text), want, "{text:?}");
        }
    }

    #[test]
    fn decode_names_the_line_of_the_first_bad_byte() {
        let f = FILE;
        let cases: &[(&[u8], Option<String>)] = &[
            (b"config daemon 'main'\n", None),
            (b"", None),
            ("option k '\u{e9}'\n".as_bytes(), None),
            (b"\xff\n", Some(format!("{f}:1: not valid UTF-8 text (bad byte at column 1)"))),
            (
                b"config daemon 'main'\n\toption a 1\n\toption k '\xe9t\xe9'\n",
                Some(format!("{f}:3: not valid UTF-8 text (bad byte at column 12)")),
            ),
            (b"a\r\nb\r\n\xc3\x28\r\n", Some(format!("{f}:3: not valid UTF-8 text (bad byte at column 1)"))),
            (b"a\n\n\n\nok \xe2\x82", Some(format!("{f}:5: not valid UTF-8 text (bad byte at column 4)"))),
            (b"\xfe\n\xff\n", Some(format!("{f}:1: not valid UTF-8 text (bad byte at column 1)"))),
        ];
        for (bytes, want) in cases {
            match (decode(Path::new(FILE), bytes), want) {
                (Ok(text), None) => assert_eq!(text.as_bytes(), *bytes),
                (Err(e), Some(want)) => {
                    let got = e.to_string();
                    assert!(got.starts_with(want.as_str()), "{bytes:?}: {got}");
                }
                (got, want) => panic!("{bytes:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn parse_all_reports_every_error_and_keeps_going() {
        let text = "option a b\nconfig daemon 'main'\noption x 'y\noption ok 1\nconfig 'bad name' n\noption lost 1\n";
        let (sections, errors) = parse_all(Path::new(FILE), text);
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()[FILE.len()..][..3].to_string()).collect();
        assert_eq!(lines, vec![":1:", ":3:", ":5:"]);
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].options, vec![UciOption { key: "ok".into(), value: single("1"), line: 4 }]);
    }
}
