//! The fuzz driver shared by every fuzz target of the workspace (stable Rust, no instrumentation).
//!
//! A target is a closure that takes one input (bytes), exercises parsers on it, asserts its
//! invariants (a failed assertion is a crash like any panic) and returns an outcome class (any
//! `u64` that sums up what happened, e.g. which error it was). [`run`] first replays the committed
//! corpus `fuzz/corpus/<target>/` (seeds and every crash ever found, kept as regression inputs),
//! then mutates inputs with a seeded PRNG until the time budget is spent. An input that produced
//! a new outcome class joins the in-memory pool that later mutations start from (cheap guidance
//! without coverage instrumentation).
//!
//! Environment: `WGC_FUZZ_SECS` (budget per target, default 20), `WGC_FUZZ_SEED` (the PRNG seed;
//! printed, so a run can be repeated), `WGC_FUZZ_INPUT` (run one file only: reproduce a crash).
//! On a crash the input goes to `fuzz/crashes/<target>-<hash>` and the test fails naming the file
//! and the seed. See `fuzz/README.md`.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Budget per target when `WGC_FUZZ_SECS` is not set (the normal test run).
pub const DEFAULT_SECS: f64 = 20.0;
/// Inputs kept in the in-memory pool at most.
const MAX_POOL: usize = 4096;

/// Tokens every target gets inserted into its inputs: quoting, structure, separators, numbers at
/// the edges, invalid UTF-8 and bidi controls.
const TOKENS: &[&[u8]] = &[
    b"'",
    b"\"",
    b"\\",
    b"\n",
    b"\r\n",
    b"\0",
    b"\t",
    b" ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"=",
    b":",
    b",",
    b"/",
    b"..",
    b"../",
    b"%2f",
    b"?",
    b"#",
    b"&",
    b"@",
    b"0",
    b"-1",
    b"65535",
    b"65536",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"18446744073709551615",
    b"18446744073709551616",
    b"999999999",
    b"1000000000",
    b"1e309",
    b"-0",
    b"null",
    b"true",
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xe2\x80\xae", // U+202E RIGHT-TO-LEFT OVERRIDE
    b"\xef\xbb\xbf", // BOM
    b"\\u0000",
    b"\\n",
    b"\\ud800",
    b"[Peer]",
    b"[Interface]",
    b"PostUp = ",
];

/// Edge values a number in the input is replaced with.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "255",
    "256",
    "65535",
    "65536",
    "999999999",
    "1000000000",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
];

/// What a target adds to the shared driver.
pub struct Target<'a> {
    /// Names the corpus directory, the crash files and the messages.
    pub name: &'a str,
    /// Inputs are cut to this length after mutation.
    pub max_len: usize,
    /// Extra tokens for this target's format (field names, keywords).
    pub tokens: &'a [&'a [u8]],
    /// Seeds made in code (for binary formats), used besides the committed corpus.
    pub seeds: Vec<Vec<u8>>,
}

impl<'a> Target<'a> {
    pub fn new(name: &'a str) -> Self {
        Self { name, max_len: 4096, tokens: &[], seeds: Vec::new() }
    }
}

/// What a run did, for the caller's own summary.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub execs: u64,
    pub corpus: usize,
    pub classes: usize,
    pub seed: u64,
}

/// The repository root (this crate lives in `<root>/actors`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

pub fn corpus_dir(target: &str) -> PathBuf {
    repo_root().join("fuzz").join("corpus").join(target)
}

pub fn crashes_dir() -> PathBuf {
    repo_root().join("fuzz").join("crashes")
}

/// Files of a corpus directory, sorted by name (a missing directory is an empty corpus).
pub fn load_corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            std::fs::read(e.path()).ok().map(|bytes| (name, bytes))
        })
        .collect();
    files.sort();
    files
}

/// FNV-1a, 64 bits: names crash files by content.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// splitmix64: small, fast, good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

fn env_secs() -> f64 {
    std::env::var("WGC_FUZZ_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(DEFAULT_SECS)
}

fn env_seed() -> u64 {
    match std::env::var("WGC_FUZZ_SEED").ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(s) => s,
        None => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0x5eed),
    }
}

/// One mutation of `data` in place. `pool` is where splices come from.
fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, pool: &[Vec<u8>], tokens: &[&[u8]]) {
    let len = data.len();
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.next_u64() as u8;
        }
        2 => {
            let i = rng.below(len + 1);
            data.insert(i, rng.next_u64() as u8);
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            data.drain(i..i + n);
        }
        4 | 5 => {
            // A token: the shared ones or the target's own.
            let all = TOKENS.len() + tokens.len();
            let k = rng.below(all);
            let tok = if k < TOKENS.len() { TOKENS[k] } else { tokens[k - TOKENS.len()] };
            let i = rng.below(len + 1);
            if rng.chance(3) && i < len {
                // Replace a stretch instead of inserting.
                let n = rng.below((len - i).min(tok.len() + 4)) + 1;
                data.splice(i..i + n, tok.iter().copied());
            } else {
                data.splice(i..i, tok.iter().copied());
            }
        }
        6 => {
            // A long run of one byte.
            let b = match rng.below(4) {
                0 => b'A',
                1 => b'9',
                2 => data.get(rng.below(len.max(1))).copied().unwrap_or(b'x'),
                _ => rng.next_u64() as u8,
            };
            let max = if rng.chance(8) { 5000 } else { 300 };
            let n = 1 + rng.below(max);
            let i = rng.below(len + 1);
            data.splice(i..i, std::iter::repeat_n(b, n));
        }
        7 if len > 0 => {
            // Duplicate a stretch (repeated fields, nested structure).
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let chunk = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
        }
        8 | 9 if !pool.is_empty() => {
            // Splice: our head with another input's tail, or another input's stretch inside ours.
            let other = &pool[rng.below(pool.len())];
            if other.is_empty() {
                return;
            }
            let j = rng.below(other.len());
            if rng.chance(2) {
                let i = rng.below(len + 1);
                data.truncate(i);
                data.extend_from_slice(&other[j..]);
            } else {
                let n = 1 + rng.below((other.len() - j).min(64));
                let at = rng.below(len + 1);
                data.splice(at..at, other[j..j + n].iter().copied());
            }
        }
        10 if len > 1 => {
            // Swap two bytes (reorders quotes and separators).
            let (i, j) = (rng.below(len), rng.below(len));
            data.swap(i, j);
        }
        11 if len > 0 => {
            // A whole number becomes an edge value, or ASCII case flips.
            let i = rng.below(len);
            if data[i].is_ascii_digit() {
                let start = data[..i].iter().rposition(|b| !b.is_ascii_digit()).map_or(0, |p| p + 1);
                let end = data[i..].iter().position(|b| !b.is_ascii_digit()).map_or(len, |p| i + p);
                let edge = NUMBERS[rng.below(NUMBERS.len())];
                data.splice(start..end, edge.bytes());
            } else if data[i].is_ascii_alphabetic() {
                data[i] ^= 0x20;
            }
        }
        _ => {
            let i = rng.below(len + 1);
            data.insert(i, b"\n\0'\"{[=\xff"[rng.below(8)]);
        }
    }
}

/// A fresh input: a pool entry with 1 to 8 stacked mutations (sometimes random bytes).
fn next_input(rng: &mut Rng, pool: &[Vec<u8>], target: &Target) -> Vec<u8> {
    let mut data = if pool.is_empty() || rng.chance(64) {
        (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect()
    } else {
        pool[rng.below(pool.len())].clone()
    };
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        mutate_once(rng, &mut data, pool, target.tokens);
    }
    data.truncate(target.max_len);
    data
}

fn describe_panic(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Writes the crashing input and fails the test with everything needed to reproduce it.
fn report_crash(target: &Target, input: &[u8], why: &str, seed: u64, origin: &str) -> ! {
    let file = crashes_dir().join(format!("{}-{:016x}", target.name, fnv1a(input)));
    let saved = std::fs::create_dir_all(crashes_dir()).and_then(|()| std::fs::write(&file, input));
    let shown: String = input.escape_ascii().to_string().chars().take(2000).collect();
    let where_ = match saved {
        Ok(()) => format!("input saved to {}", file.display()),
        Err(e) => format!("could not save the input to {}: {e}", file.display()),
    };
    panic!(
        "fuzz target '{}' crashed ({origin}): {why}\n  {where_}\n  seed: WGC_FUZZ_SEED={seed}\n  reproduce: WGC_FUZZ_INPUT={} cargo test fuzz_{}\n  input ({} bytes): b\"{shown}\"",
        target.name,
        file.display(),
        target.name,
        input.len()
    );
}

/// Runs `check` on the corpus, then on mutated inputs until the budget is spent; panics (fails the
/// test) on the first crash or broken invariant. Returns what it did (also printed).
pub fn run(target: Target, mut check: impl FnMut(&[u8]) -> u64) -> Stats {
    let seed = env_seed();
    let budget = Duration::from_secs_f64(env_secs());
    let mut exec = |input: &[u8]| catch_unwind(AssertUnwindSafe(|| check(input))).map_err(|p| describe_panic(p.as_ref()));

    // Reproduction mode: one file, no mutation.
    if let Ok(path) = std::env::var("WGC_FUZZ_INPUT") {
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("WGC_FUZZ_INPUT={path}: {e}"));
        if let Err(why) = exec(&input) {
            report_crash(&target, &input, &why, seed, &format!("replaying {path}"));
        }
        println!("fuzz {}: {path} passes", target.name);
        return Stats { execs: 1, corpus: 1, classes: 0, seed };
    }

    let corpus = load_corpus(&corpus_dir(target.name));
    let mut classes = HashSet::new();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut execs = 0u64;
    // Every committed input (seeds and past crashes) must pass before anything new is tried.
    for (name, input) in &corpus {
        match exec(input) {
            Ok(class) => {
                classes.insert(class);
            }
            Err(why) => report_crash(&target, input, &why, seed, &format!("corpus file {name}")),
        }
        execs += 1;
        pool.push(input.clone());
    }
    for (i, input) in target.seeds.iter().enumerate() {
        match exec(input) {
            Ok(class) => {
                classes.insert(class);
            }
            Err(why) => report_crash(&target, input, &why, seed, &format!("built-in seed #{i}")),
        }
        execs += 1;
        pool.push(input.clone());
    }
    let corpus_len = pool.len();

    // Each target gets its own stream from the one printed seed.
    let mut rng = Rng::new(seed ^ fnv1a(target.name.as_bytes()));
    let start = Instant::now();
    while start.elapsed() < budget {
        // Check the clock every 64 executions: cheap targets run millions of times.
        for _ in 0..64 {
            let input = next_input(&mut rng, &pool, &target);
            execs += 1;
            match exec(&input) {
                Ok(class) => {
                    if classes.insert(class) && pool.len() < MAX_POOL {
                        pool.push(input);
                    }
                }
                Err(why) => report_crash(&target, &input, &why, seed, &format!("mutation, execution {execs}")),
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz {}: {execs} executions in {secs:.1}s ({} corpus inputs, {} outcome classes, pool {}), seed {seed}",
        target.name,
        corpus_len,
        classes.len(),
        pool.len()
    );
    Stats { execs, corpus: corpus_len, classes: classes.len(), seed }
}

/// Helpers for targets that decode structure out of the fuzz bytes.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A coin from the next byte.
    pub fn flip(&mut self) -> bool {
        self.byte() & 1 == 0
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Bytes up to the next 0x1F (unit separator) or the end, as lossy UTF-8.
    pub fn field(&mut self) -> String {
        let end = self.data.iter().position(|b| *b == 0x1f).unwrap_or(self.data.len());
        let s = String::from_utf8_lossy(&self.data[..end]).into_owned();
        self.data = self.data.get(end + 1..).unwrap_or(&[]);
        s
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_bounded_and_deterministic() {
        let pool = vec![b"config daemon 'main'\n".to_vec(), b"{\"a\":1}".to_vec()];
        let target = Target { max_len: 100, ..Target::new("selftest") };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..500).map(|_| next_input(&mut rng, &pool, &target)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same inputs");
        assert!(a.iter().all(|i| i.len() <= 100));
        assert!(a.iter().collect::<HashSet<_>>().len() > 400, "mutations should mostly differ");
    }

    #[test]
    fn reader_splits_fields() {
        let mut r = Reader::new(b"\x01ab\x1fcd");
        assert_eq!(r.byte(), 1);
        assert_eq!(r.field(), "ab");
        assert_eq!(r.field(), "cd");
        assert!(r.is_empty());
        assert_eq!(r.field(), "");
        assert_eq!(r.byte(), 0);
    }
}
