//! The append-only Raft log: one file of frames `[len u32 LE][crc32 u32 LE][payload]`, the payload
//! one postcard-encoded Raft entry. Only offsets are kept in memory (an entry can be ~1 MB);
//! entries are read from the file on demand.
//!
//! - `append` writes a batch of frames at the end and fsyncs once (`fdatasync`) before returning.
//! - `truncate(since)` cuts the file at the frame of `since` (`set_len`, fsync).
//! - `purge(upto)` forgets frames up to `upto` (the caller records `last_purged` durably first);
//!   once the dead prefix outgrows the live part (and `COMPACT_MIN` bytes), the live frames are
//!   copied to `<file>.tmp`, fsync'd and renamed over the log (directory fsync'd), so the file
//!   stays bounded on flash.
//! - Opening scans every frame. A bad frame at the tail — cut short, a bad checksum on the last
//!   frame, or nothing but zeros to the end (a crash during an append) — is cut off with a
//!   warning; any other bad frame is an error naming the file and offset, and nothing is cut.
//!
//! The log does not know the entry type: the caller gives `open` a function that reads an
//! entry's index from its payload.

use super::file::{self, io_error};
use super::StoreError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of a frame header: length and CRC-32 of the payload.
pub const HEADER: usize = 8;
/// A payload larger than this is refused (a corrupt length field must not allocate gigabytes).
pub const PAYLOAD_MAX: usize = 64 << 20;
/// The dead prefix is compacted away once it is at least this large and larger than the live part.
pub const COMPACT_MIN: u64 = 64 << 10;

/// Reads an entry's log index from its payload.
pub type IndexOf = fn(&[u8]) -> Result<u64, String>;

/// CRC-32 (IEEE 802.3, reflected, as zlib and Ethernet), table built at compile time.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

/// Appends one frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    if payload.is_empty() || payload.len() > PAYLOAD_MAX {
        return Err(FrameError::Length(payload.len() as u64));
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame is cut short ({have} of {need} bytes)")]
    Short { have: u64, need: u64 },
    #[error("impossible payload length {0}")]
    Length(u64),
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
}

/// The payload length a header announces (checked against `PAYLOAD_MAX`, not the file).
pub fn decode_header(header: &[u8; HEADER]) -> Result<(usize, u32), FrameError> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > PAYLOAD_MAX {
        return Err(FrameError::Length(len as u64));
    }
    Ok((len, crc))
}

/// Decodes the frame at the start of `bytes`: its payload and the bytes it spans.
pub fn decode_frame(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let header: &[u8; HEADER] =
        bytes.get(..HEADER).and_then(|h| h.try_into().ok()).ok_or(FrameError::Short { have: bytes.len() as u64, need: HEADER as u64 })?;
    let (len, stored) = decode_header(header)?;
    let payload = bytes.get(HEADER..HEADER + len).ok_or(FrameError::Short { have: bytes.len() as u64, need: (HEADER + len) as u64 })?;
    let computed = crc32(payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((payload, HEADER + len))
}

/// The frames of a log file as found by `scan`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Index of the first live frame (`offsets[0]`).
    pub first: Option<u64>,
    /// Offsets of the live frames (index `first + i`).
    pub offsets: Vec<u64>,
    /// Bytes of the dead prefix (frames at or below `last_purged`): where the live frames start.
    pub dead: u64,
    /// End of the last good frame.
    pub end: u64,
    /// Set when the file goes on past `end` with a torn tail: its length and why.
    pub torn: Option<(u64, FrameError)>,
}

/// Reads every frame of `f` (`path` names it in errors). Read-only: the caller cuts a torn tail.
pub fn scan(f: &File, path: &Path, last_purged: Option<u64>, index_of: IndexOf) -> Result<Scan, StoreError> {
    let len = f.metadata().map_err(io_error("stat", path))?.len();
    let mut s = Scan::default();
    let mut off = 0u64;
    let mut payload = Vec::new();
    while off < len {
        let bad = match read_frame_at(f, path, off, len, &mut payload) {
            Ok(()) => None,
            Err(ReadError::Frame(e)) => Some(e),
            Err(ReadError::Store(e)) => return Err(e),
        };
        if let Some(e) = bad {
            // Torn: cut short by the end of the file, the last frame, or zeros to the end.
            if matches!(e, FrameError::Short { .. }) || frame_end(f, off, len) == Some(len) || zeros_to_end(f, path, off, len)? {
                s.torn = Some((len, e));
                break;
            }
            return Err(StoreError::CorruptLog { path: path.to_path_buf(), offset: off, reason: e.to_string() });
        }
        let index = index_of(&payload).map_err(|reason| StoreError::CorruptLog { path: path.to_path_buf(), offset: off, reason })?;
        let next = off + (HEADER + payload.len()) as u64;
        if last_purged.is_some_and(|p| index <= p) {
            if !s.offsets.is_empty() {
                return Err(StoreError::CorruptLog {
                    path: path.to_path_buf(),
                    offset: off,
                    reason: format!("entry {index} follows live entries"),
                });
            }
            s.dead = next;
        } else {
            match s.first {
                None => s.first = Some(index),
                Some(first) if index != first + s.offsets.len() as u64 => {
                    let want = first + s.offsets.len() as u64;
                    return Err(StoreError::CorruptLog {
                        path: path.to_path_buf(),
                        offset: off,
                        reason: format!("entry {index} where {want} belongs"),
                    });
                }
                Some(_) => {}
            }
            s.offsets.push(off);
        }
        off = next;
        s.end = off;
    }
    Ok(s)
}

enum ReadError {
    Frame(FrameError),
    Store(StoreError),
}

/// Reads and checks the frame at `off` of a file of `len` bytes into `payload`.
fn read_frame_at(f: &File, path: &Path, off: u64, len: u64, payload: &mut Vec<u8>) -> Result<(), ReadError> {
    let mut header = [0u8; HEADER];
    if len - off < HEADER as u64 {
        return Err(ReadError::Frame(FrameError::Short { have: len - off, need: HEADER as u64 }));
    }
    f.read_exact_at(&mut header, off).map_err(|e| ReadError::Store(io_error("read", path)(e)))?;
    let (plen, stored) = decode_header(&header).map_err(ReadError::Frame)?;
    if len - off < (HEADER + plen) as u64 {
        return Err(ReadError::Frame(FrameError::Short { have: len - off, need: (HEADER + plen) as u64 }));
    }
    payload.resize(plen, 0);
    f.read_exact_at(payload, off + HEADER as u64).map_err(|e| ReadError::Store(io_error("read", path)(e)))?;
    let computed = crc32(payload);
    if computed != stored {
        return Err(ReadError::Frame(FrameError::Checksum { stored, computed }));
    }
    Ok(())
}

/// Where the frame at `off` would end by its header, if the header is readable and sane.
fn frame_end(f: &File, off: u64, len: u64) -> Option<u64> {
    let mut header = [0u8; HEADER];
    if len - off < HEADER as u64 || f.read_exact_at(&mut header, off).is_err() {
        return None;
    }
    decode_header(&header).ok().map(|(plen, _)| off + (HEADER + plen) as u64)
}

/// True when every byte from `off` to `len` is zero (space a crash allocated but never filled).
fn zeros_to_end(f: &File, path: &Path, mut off: u64, len: u64) -> Result<bool, StoreError> {
    let mut buf = vec![0u8; 64 << 10];
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        f.read_exact_at(&mut buf[..n], off).map_err(io_error("read", path))?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        off += n as u64;
    }
    Ok(true)
}

/// The open log (see the module doc).
#[derive(Debug)]
pub struct RaftLog {
    path: PathBuf,
    file: File,
    first: Option<u64>,
    offsets: Vec<u64>,
    dead: u64,
    end: u64,
}

impl RaftLog {
    /// Opens (or creates, mode 0600) the log at `path`; frames at or below `last_purged` are dead.
    pub fn open(path: &Path, last_purged: Option<u64>, index_of: IndexOf) -> Result<Self, StoreError> {
        let existed = path.exists();
        let file = file::create_private(path, false)?;
        if !existed {
            if let Some(dir) = path.parent() {
                file::sync_dir(dir)?;
            }
        }
        let s = scan(&file, path, last_purged, index_of)?;
        if let Some((len, why)) = &s.torn {
            log::warn!(
                "{}: cut off {} bytes at offset {} left by an interrupted append ({why}); the entries before it are intact",
                path.display(),
                len - s.end,
                s.end
            );
            file.set_len(s.end).map_err(io_error("truncate", path))?;
            file.sync_all().map_err(io_error("fsync", path))?;
        }
        Ok(Self { path: path.to_path_buf(), file, first: s.first, offsets: s.offsets, dead: s.dead, end: s.end })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Index of the first live entry.
    pub fn first_index(&self) -> Option<u64> {
        self.first
    }

    /// Index of the last live entry.
    pub fn last_index(&self) -> Option<u64> {
        let first = self.first?;
        (!self.offsets.is_empty()).then(|| first + self.offsets.len() as u64 - 1)
    }

    /// Bytes of the file (dead prefix included).
    pub fn file_len(&self) -> u64 {
        self.end
    }

    fn slot(&self, index: u64) -> Option<usize> {
        let i = usize::try_from(index.checked_sub(self.first?)?).ok()?;
        (i < self.offsets.len()).then_some(i)
    }

    /// Appends `(index, payload)` pairs (consecutive, following the last entry) and fsyncs once.
    pub fn append(&mut self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        let mut next = self.last_index().map(|l| l + 1);
        for (index, payload) in entries {
            if next.is_some_and(|n| n != *index) {
                return Err(StoreError::LogOrder { path: self.path.clone(), index: *index, want: next.unwrap_or_default() });
            }
            offsets.push(self.end + buf.len() as u64);
            encode_frame(payload, &mut buf).map_err(|e| StoreError::CorruptLog {
                path: self.path.clone(),
                offset: self.end,
                reason: e.to_string(),
            })?;
            next = Some(index + 1);
        }
        let Some((first, _)) = entries.first() else { return Ok(()) };
        self.file.write_all_at(&buf, self.end).map_err(io_error("append to", &self.path))?;
        self.file.sync_data().map_err(io_error("fsync", &self.path))?;
        if self.offsets.is_empty() {
            self.first = Some(*first);
        }
        self.offsets.extend(offsets);
        self.end += buf.len() as u64;
        Ok(())
    }

    /// Reads the payload of entry `index`, if the log holds it.
    pub fn read(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(i) = self.slot(index) else { return Ok(None) };
        let off = self.offsets[i];
        let mut payload = Vec::new();
        match read_frame_at(&self.file, &self.path, off, self.end, &mut payload) {
            Ok(()) => Ok(Some(payload)),
            Err(ReadError::Store(e)) => Err(e),
            Err(ReadError::Frame(e)) => Err(StoreError::CorruptLog { path: self.path.clone(), offset: off, reason: e.to_string() }),
        }
    }

    /// Bytes entry `index` takes in the file (header included).
    pub fn frame_len(&self, index: u64) -> Option<u64> {
        let i = self.slot(index)?;
        Some(self.offsets.get(i + 1).copied().unwrap_or(self.end) - self.offsets[i])
    }

    /// Removes entries from `since` on (`set_len` and fsync).
    pub fn truncate(&mut self, since: u64) -> Result<(), StoreError> {
        let cut = match self.slot(since) {
            Some(i) => i,
            None if self.first.is_some_and(|f| since < f) => 0,
            None => return Ok(()),
        };
        let at = self.offsets.get(cut).copied().unwrap_or(self.end);
        self.file.set_len(at).map_err(io_error("truncate", &self.path))?;
        self.file.sync_data().map_err(io_error("fsync", &self.path))?;
        self.offsets.truncate(cut);
        if self.offsets.is_empty() {
            self.first = None;
        }
        self.end = at;
        Ok(())
    }

    /// Forgets entries up to `upto` (the caller has recorded it durably) and compacts the file
    /// when the dead prefix is large. Returns whether it compacted.
    pub fn purge(&mut self, upto: u64) -> Result<bool, StoreError> {
        let drop = match (self.first, self.last_index()) {
            (Some(first), Some(last)) if upto >= first => (upto.min(last) - first + 1) as usize,
            _ => 0,
        };
        if drop > 0 {
            self.dead = self.offsets.get(drop).copied().unwrap_or(self.end);
            self.offsets.drain(..drop);
            self.first = if self.offsets.is_empty() { None } else { Some(upto + 1) };
        }
        let live = self.end - self.dead;
        if self.dead >= COMPACT_MIN && self.dead > live {
            self.compact()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Rewrites the file without its dead prefix (temp file, fsync, rename, directory fsync).
    fn compact(&mut self) -> Result<(), StoreError> {
        let mut tmp_name = self.path.as_os_str().to_os_string();
        tmp_name.push(file::TMP_SUFFIX);
        let tmp = PathBuf::from(tmp_name);
        let out = file::create_private(&tmp, true)?;
        let mut buf = vec![0u8; 256 << 10];
        let (mut from, mut to) = (self.dead, 0u64);
        while from < self.end {
            let n = ((self.end - from) as usize).min(buf.len());
            self.file.read_exact_at(&mut buf[..n], from).map_err(io_error("read", &self.path))?;
            out.write_all_at(&buf[..n], to).map_err(io_error("write", &tmp))?;
            from += n as u64;
            to += n as u64;
        }
        out.sync_all().map_err(io_error("fsync", &tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io_error("rename into place", &self.path))?;
        if let Some(dir) = self.path.parent() {
            file::sync_dir(dir)?;
        }
        for o in &mut self.offsets {
            *o -= self.dead;
        }
        self.end -= self.dead;
        self.dead = 0;
        self.file = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test payloads: the index as 8 bytes little endian, then filler.
    fn payload(index: u64, fill: usize) -> Vec<u8> {
        let mut p = index.to_le_bytes().to_vec();
        p.extend(std::iter::repeat_n(index as u8, fill));
        p
    }

    fn index_of(p: &[u8]) -> Result<u64, String> {
        Ok(u64::from_le_bytes(p.get(..8).and_then(|b| b.try_into().ok()).ok_or("short payload")?))
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgc-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn crc32_matches_the_standard() {
        let cases: &[(&[u8], u32)] = &[(b"", 0), (b"a", 0xE8B7_BE43), (b"123456789", 0xCBF4_3926), (&[0u8; 4], 0x2144_DF1C)];
        for (input, want) in cases {
            assert_eq!(crc32(input), *want, "{input:?}");
        }
    }

    #[test]
    fn frame_codec_cases() {
        let mut good = Vec::new();
        encode_frame(b"hello", &mut good).expect("encode");
        assert_eq!(good.len(), HEADER + 5);
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x01;
            b
        };
        let mut two = good.clone();
        encode_frame(b"xy", &mut two).expect("encode");
        let crc = crc32(b"hello");
        // (bytes, expected)
        type Decoded<'a> = Result<(&'a [u8], usize), FrameError>;
        let cases: Vec<(Vec<u8>, Decoded)> = vec![
            (good.clone(), Ok((b"hello", 13))),
            (two.clone(), Ok((b"hello", 13))),
            (two[13..].to_vec(), Ok((b"xy", 10))),
            (vec![], Err(FrameError::Short { have: 0, need: 8 })),
            (good[..7].to_vec(), Err(FrameError::Short { have: 7, need: 8 })),
            (good[..12].to_vec(), Err(FrameError::Short { have: 12, need: 13 })),
            (vec![0u8; 16], Err(FrameError::Length(0))),
            (vec![0xff; 16], Err(FrameError::Length(u32::MAX as u64))),
            (flip(10), Err(FrameError::Checksum { stored: crc, computed: crc32(b"hemlo") })),
            (flip(4), Err(FrameError::Checksum { stored: crc ^ 1, computed: crc })),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_frame(&bytes), want, "{bytes:?}");
        }
        assert_eq!(encode_frame(b"", &mut Vec::new()), Err(FrameError::Length(0)));
    }

    fn filled(dir: &Path, n: u64) -> RaftLog {
        let mut log = RaftLog::open(&dir.join("raft-log"), None, index_of).expect("open");
        let batch: Vec<_> = (1..=n).map(|i| (i, payload(i, 20 + i as usize))).collect();
        log.append(&batch[..2]).expect("append");
        log.append(&batch[2..]).expect("append");
        log
    }

    #[test]
    fn append_read_truncate_purge_reopen() {
        let dir = tempdir("basic");
        let mut log = filled(&dir, 5);
        assert_eq!((log.first_index(), log.last_index()), (Some(1), Some(5)));
        assert_eq!(log.read(3).expect("read"), Some(payload(3, 23)));
        assert_eq!(log.read(6).expect("read"), None);
        let gap = log.append(&[(7, payload(7, 1))]).expect_err("gap");
        assert!(matches!(gap, StoreError::LogOrder { index: 7, want: 6, .. }), "{gap}");
        log.truncate(4).expect("truncate");
        assert_eq!(log.last_index(), Some(3));
        log.append(&[(4, payload(4, 99))]).expect("append after truncate");
        assert!(!log.purge(2).expect("purge"), "a small dead prefix stays");
        assert_eq!((log.first_index(), log.last_index()), (Some(3), Some(4)));
        drop(log);
        let log = RaftLog::open(&dir.join("raft-log"), Some(2), index_of).expect("reopen");
        assert_eq!((log.first_index(), log.last_index()), (Some(3), Some(4)));
        assert_eq!(log.read(4).expect("read"), Some(payload(4, 99)));
        assert_eq!(log.read(2).expect("read"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn purge_compacts_a_large_dead_prefix() {
        let dir = tempdir("compact");
        let mut log = RaftLog::open(&dir.join("raft-log"), None, index_of).expect("open");
        let batch: Vec<_> = (1..=40).map(|i| (i, payload(i, 4096))).collect();
        log.append(&batch).expect("append");
        let before = log.file_len();
        assert!(log.purge(30).expect("purge"), "30 of 40 entries dead: compacted");
        assert!(log.file_len() < before / 3, "{} of {before}", log.file_len());
        assert_eq!(log.read(31).expect("read"), Some(payload(31, 4096)));
        log.append(&[(41, payload(41, 1))]).expect("append");
        drop(log);
        let log = RaftLog::open(&dir.join("raft-log"), Some(30), index_of).expect("reopen");
        assert_eq!((log.first_index(), log.last_index()), (Some(31), Some(41)));
        // Purging past the end leaves an empty log that continues after the purged index.
        let mut log = log;
        log.purge(50).expect("purge all");
        assert_eq!(log.last_index(), None);
        log.append(&[(51, payload(51, 1))]).expect("append after a purge past the end");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A crash during the last append, at every byte of its frame: the tail is cut with a
    /// warning and every earlier entry reads back.
    #[test]
    fn a_torn_last_frame_is_cut_at_every_offset() {
        let dir = tempdir("torn");
        let path = dir.join("raft-log");
        let log = filled(&dir, 4);
        let (start, len) = (log.offsets[3], log.file_len());
        drop(log);
        let whole = std::fs::read(&path).expect("read");
        for cut in start..len {
            std::fs::write(&path, &whole[..cut as usize]).expect("write");
            let mut log = RaftLog::open(&path, None, index_of).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(log.last_index(), Some(3), "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).expect("stat").len(), start, "cut at {cut}: the tail is gone");
            for i in 1..=3 {
                assert_eq!(log.read(i).expect("read"), Some(payload(i, 20 + i as usize)), "cut at {cut}");
            }
            log.append(&[(4, payload(4, 1))]).expect("append after recovery");
        }
        // Space allocated but never written (zeros) after the last frame is a torn tail too.
        let mut zeros = whole.clone();
        zeros.extend(std::iter::repeat_n(0u8, 300));
        std::fs::write(&path, &zeros).expect("write");
        assert_eq!(RaftLog::open(&path, None, index_of).expect("open").last_index(), Some(4));
        // A bad checksum on the last frame only: torn.
        let mut last_bad = whole.clone();
        *last_bad.last_mut().expect("byte") ^= 0xff;
        std::fs::write(&path, &last_bad).expect("write");
        assert_eq!(RaftLog::open(&path, None, index_of).expect("open").last_index(), Some(3));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A flipped byte with good frames after it is corruption, not a crash: open fails naming the
    /// file and the frame's offset.
    #[test]
    fn corruption_before_the_tail_is_an_error_naming_the_offset() {
        let dir = tempdir("corrupt");
        let path = dir.join("raft-log");
        let log = filled(&dir, 4);
        let at = log.offsets[1];
        drop(log);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[at as usize + HEADER + 3] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");
        let err = RaftLog::open(&path, None, index_of).expect_err("corrupt").to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains(&format!("offset {at}")), "{err}");
        assert!(err.contains("checksum"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), bytes, "nothing was cut");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
