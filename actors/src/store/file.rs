//! Small files replaced whole and atomically: write `<name>.tmp` (mode 0600 whatever the umask),
//! fsync it, rename it over `<name>`, fsync the directory. A reader sees the old or the new
//! contents, never a mix, also after a crash or power loss. `Slot` is the exception for a value
//! written on every commit that may lag (Raft's committed id): overwritten in place, no fsync.

use super::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every store file: the data holds the cluster CA key, peer private keys, DNS secrets.
pub const FILE_MODE: u32 = 0o600;
/// Suffix of a file being replaced; left over only by a crash, removed on open.
pub const TMP_SUFFIX: &str = ".tmp";

pub(crate) fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// Creates (or opens) `path` for writing with mode 0600, and sets 0600 on an existing file.
pub fn create_private(path: &Path, truncate: bool) -> Result<File, StoreError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_error("create", path))?;
    let mode = f.metadata().map_err(io_error("stat", path))?.permissions().mode() & 0o7777;
    if mode != FILE_MODE {
        f.set_permissions(fs::Permissions::from_mode(FILE_MODE)).map_err(io_error("chmod", path))?;
    }
    Ok(f)
}

/// fsyncs a directory, so a rename or a new file in it survives power loss.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("fsync directory", dir))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Replaces `path` with `bytes` atomically and durably (see the module doc).
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    let mut f = create_private(&tmp, true)?;
    f.write_all(bytes).map_err(io_error("write", &tmp))?;
    f.sync_all().map_err(io_error("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_error("rename into place", path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// The contents of `path`, or None when it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io { op: "read", path: path.to_path_buf(), source }),
    }
}

/// Removes `path`; a missing file is fine.
pub fn remove(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io { op: "remove", path: path.to_path_buf(), source }),
    }
}

/// Removes the `*.tmp` files a crash left in `dir` (never renamed, so never part of the store).
pub fn remove_leftovers(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let path = entry.map_err(io_error("list", dir))?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(TMP_SUFFIX)) {
            remove(&path)?;
        }
    }
    Ok(())
}

/// A tiny value overwritten in place, for values written often that may lag after a power loss
/// (Raft's committed id): `[crc32 u32 LE][len u32 LE][bytes]` at offset 0, no rename, no fsync,
/// so a write dirties one page that the kernel writes back later, instead of a new file and a
/// directory entry per write. A torn or stale record reads as unreadable (`Err`), never as a
/// wrong value.
#[derive(Debug)]
pub struct Slot {
    path: PathBuf,
    file: File,
}

impl Slot {
    /// Bytes a value may take.
    pub const MAX: usize = 256;

    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { path: path.to_path_buf(), file: create_private(path, false)? })
    }

    pub fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        if bytes.len() > Self::MAX {
            return Err(StoreError::Corrupt {
                key: self.path.display().to_string(),
                reason: format!("{} bytes is too large", bytes.len()),
            });
        }
        let mut record = Vec::with_capacity(8 + bytes.len());
        record.extend_from_slice(&super::log::crc32(bytes).to_le_bytes());
        record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        record.extend_from_slice(bytes);
        self.file.write_all_at(&record, 0).map_err(io_error("write", &self.path))
    }

    /// The value last written; None when never written.
    pub fn read(&self) -> Result<Option<Vec<u8>>, StoreError> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; 8 + Self::MAX];
        let mut n = 0;
        while n < buf.len() {
            match self.file.read_at(&mut buf[n..], n as u64).map_err(io_error("read", &self.path))? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            return Ok(None);
        }
        let corrupt = |reason: &str| StoreError::Corrupt { key: self.path.display().to_string(), reason: reason.to_string() };
        let word = |at: usize| buf.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        let (Some(crc), Some(len)) = (word(0), word(4)) else { return Err(corrupt("cut short")) };
        let value = buf.get(8..8 + len as usize).filter(|_| 8 + len as usize <= n).ok_or_else(|| corrupt("cut short"))?;
        if super::log::crc32(value) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(Some(value.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_reads_back_its_last_value_or_refuses_a_torn_one() {
        let dir = std::env::temp_dir().join(format!("wgc-slot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join("slot");
        let slot = Slot::open(&p).expect("open");
        assert_eq!(slot.read().expect("read"), None);
        slot.write(b"a longer value").expect("write");
        slot.write(b"short").expect("write");
        assert_eq!(Slot::open(&p).expect("reopen").read().expect("read").as_deref(), Some(&b"short"[..]));
        assert_eq!(fs::metadata(&p).expect("stat").permissions().mode() & 0o777, FILE_MODE);
        let mut bytes = fs::read(&p).expect("read");
        bytes[9] ^= 1;
        fs::write(&p, &bytes).expect("write");
        assert!(matches!(slot.read(), Err(StoreError::Corrupt { .. })));
        fs::write(&p, &bytes[..6]).expect("write");
        assert!(matches!(slot.read(), Err(StoreError::Corrupt { .. })));
        assert!(slot.write(&[0u8; Slot::MAX + 1]).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn replace_is_private_whole_and_leaves_no_tmp() {
        let dir = std::env::temp_dir().join(format!("wgc-file-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join("value");
        assert_eq!(read(&p).expect("read"), None);
        // Created 0600 whatever the umask (the tests run with the usual 022).
        replace(&p, b"one").expect("replace");
        replace(&p, b"two").expect("replace");
        assert_eq!(read(&p).expect("read").as_deref(), Some(&b"two"[..]));
        assert_eq!(fs::metadata(&p).expect("stat").permissions().mode() & 0o777, FILE_MODE);
        fs::write(tmp_path(&p), b"torn").expect("write leftover");
        remove_leftovers(&dir).expect("clean");
        let names: Vec<_> = fs::read_dir(&dir).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("value")]);
        let _ = fs::remove_dir_all(&dir);
    }
}
