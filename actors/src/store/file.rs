//! Small files replaced whole and atomically: write `<name>.tmp` (mode 0600 whatever the umask),
//! fsync it, rename it over `<name>`, fsync the directory. A reader sees the old or the new
//! contents, never a mix, also after a crash or power loss. `Durability::Lazy` skips both fsyncs
//! (the rename is still atomic; after a power loss the file may hold an older value, or on some
//! file systems be empty) for values that may lag, such as Raft's committed index.

use super::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every store file: the data holds the cluster CA key, peer private keys, DNS secrets.
pub const FILE_MODE: u32 = 0o600;
/// Suffix of a file being replaced; left over only by a crash, removed on open.
pub const TMP_SUFFIX: &str = ".tmp";

/// Whether a replacement is fsync'd before `replace` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// File and directory fsync'd: survives power loss once `replace` returns.
    Durable,
    /// No fsync: written back by the kernel later (may be lost or, after a power loss, empty).
    Lazy,
}

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

/// Replaces `path` with `bytes` atomically (see the module doc).
pub fn replace(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), StoreError> {
    let tmp = tmp_path(path);
    let mut f = create_private(&tmp, true)?;
    f.write_all(bytes).map_err(io_error("write", &tmp))?;
    if durability == Durability::Durable {
        f.sync_all().map_err(io_error("fsync", &tmp))?;
    }
    drop(f);
    fs::rename(&tmp, path).map_err(io_error("rename into place", path))?;
    if durability == Durability::Durable {
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_is_private_whole_and_leaves_no_tmp() {
        let dir = std::env::temp_dir().join(format!("wgc-file-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let p = dir.join("value");
        assert_eq!(read(&p).expect("read"), None);
        // Created 0600 whatever the umask (the tests run with the usual 022).
        replace(&p, b"one", Durability::Durable).expect("replace");
        replace(&p, b"two", Durability::Lazy).expect("replace");
        assert_eq!(read(&p).expect("read").as_deref(), Some(&b"two"[..]));
        assert_eq!(fs::metadata(&p).expect("stat").permissions().mode() & 0o777, FILE_MODE);
        fs::write(tmp_path(&p), b"torn").expect("write leftover");
        remove_leftovers(&dir).expect("clean");
        let names: Vec<_> = fs::read_dir(&dir).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("value")]);
        let _ = fs::remove_dir_all(&dir);
    }
}
