//! The data dir's guards, run by `wgclusterd run` before the store is opened for Raft:
//!
//! - **Modes.** The data dir holds the cluster CA key, router and peer private keys, DNS secrets
//!   and the admin token, so every file in it is 0600 and every directory (the data dir included)
//!   0700. Files are created that way (`create`, `Store::open`, `TlsFiles`, the reconciler);
//!   `fix_modes` finds anything looser or otherwise different (a hand-made copy, a restored
//!   backup, an old version), warns naming the path and both modes, and sets it right. Symbolic
//!   links and special files inside are not followed or changed, only warned about.
//! - **Identity.** The data dir belongs to one router: the node id its certificate
//!   (`tls/node.crt`, signed by the cluster CA) was issued to. `check_identity` refuses to start
//!   when the configured `node_id` differs, naming both, so a copied data dir cannot register a
//!   second live router under the first router's certificate.

use crate::config::DaemonConfig;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wgcluster_actors::tls::pki::{cert_der_from_pem, node_id_of};
use wgcluster_actors::tls::store::{TlsFiles, NODE_CERT_FILE};

/// Mode of every file in the data dir.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the data dir and every directory in it.
pub const DIR_MODE: u32 = 0o700;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "node_id '{configured}' in {} does not match this data dir's identity '{stored}' ({}): \
         its certificate {} was issued to '{stored}'. To run this router as '{stored}', set option \
         node_id '{stored}'; to make a new router '{configured}', point data_dir at an empty directory \
         and `wgclusterd join` (or `init`) it. A copy of another router's data dir must not run as a \
         second router",
        .config.display(), .data_dir.display(), .cert.display()
    )]
    IdentityMismatch { configured: String, stored: String, config: PathBuf, data_dir: PathBuf, cert: PathBuf },
    #[error(
        "{}: cannot read this router's node id from its certificate ({reason}); restore the data dir \
         from a backup, or start over with an empty data dir",
        .cert.display()
    )]
    BadCertificate { cert: PathBuf, reason: String },
    #[error("{0}")]
    Tls(#[from] wgcluster_actors::tls::store::StoreError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.to_path_buf(), source }
}

/// Creates the data dir with mode 0700 (whatever the umask; missing parents get the usual
/// mode) and sets an existing one to 0700.
pub fn create(dir: &Path) -> Result<(), DataDirError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(io_err(dir))
}

/// Both start-up checks: modes first (warnings logged), then the identity.
pub fn check(config_path: &Path, cfg: &DaemonConfig) -> Result<(), DataDirError> {
    for warning in fix_modes(&cfg.data_dir)? {
        log::warn!("{warning}");
    }
    check_identity(config_path, cfg)
}

/// Walks `data_dir` (not following symbolic links inside it) and sets every directory to 0700 and
/// every regular file to 0600. Returns one warning per path it changed or could not judge.
pub fn fix_modes(data_dir: &Path) -> Result<Vec<String>, DataDirError> {
    let mut warnings = Vec::new();
    // The data dir itself may be a symbolic link (e.g. onto persistent storage): follow that one.
    let meta = fs::metadata(data_dir).map_err(io_err(data_dir))?;
    let mut dirs = Vec::new();
    if meta.is_dir() {
        fix_one(data_dir, &meta, DIR_MODE, &mut warnings)?;
        dirs.push(data_dir.to_path_buf());
    }
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(io_err(&dir))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                fix_one(&path, &meta, DIR_MODE, &mut warnings)?;
                dirs.push(path);
            } else if kind.is_file() {
                fix_one(&path, &meta, FILE_MODE, &mut warnings)?;
            } else if kind.is_symlink() {
                warnings.push(format!(
                    "{} is a symbolic link inside the data dir; not followed, its target's mode is not checked",
                    path.display()
                ));
            } else {
                warnings.push(format!("{} is not a regular file or directory; its mode is not checked", path.display()));
            }
        }
    }
    Ok(warnings)
}

fn fix_one(path: &Path, meta: &fs::Metadata, want: u32, warnings: &mut Vec<String>) -> Result<(), DataDirError> {
    // Permission bits plus setuid/setgid/sticky: all of them must be exactly `want`.
    let mode = meta.permissions().mode() & 0o7777;
    if mode != want {
        fs::set_permissions(path, fs::Permissions::from_mode(want)).map_err(io_err(path))?;
        let what = if meta.is_dir() { "directory" } else { "file" };
        warnings.push(format!(
            "{} had mode {mode:04o}; set it to {want:04o} (every {what} in the data dir must be {want:04o}: it holds secrets)",
            path.display()
        ));
    }
    Ok(())
}

/// The node id this data dir belongs to: the name its router certificate was issued to. `None`
/// when the data dir has no certificate (yet): then there is nothing to compare, and starting
/// fails later naming the missing identity.
pub fn stored_node_id(data_dir: &Path) -> Result<Option<String>, DataDirError> {
    let files = TlsFiles::new(data_dir);
    let Some(node) = files.load_node()? else {
        return Ok(None);
    };
    let cert = files.path(NODE_CERT_FILE);
    let der =
        cert_der_from_pem(&node.node_cert_pem).map_err(|e| DataDirError::BadCertificate { cert: cert.clone(), reason: e.to_string() })?;
    let id = node_id_of(&der)
        .ok_or_else(|| DataDirError::BadCertificate { cert, reason: "it does not name exactly one valid node id".into() })?;
    Ok(Some(id))
}

/// Refuses a configured `node_id` that is not the identity of the data dir.
pub fn check_identity(config_path: &Path, cfg: &DaemonConfig) -> Result<(), DataDirError> {
    match stored_node_id(&cfg.data_dir)? {
        Some(stored) if stored != cfg.node_id => Err(DataDirError::IdentityMismatch {
            configured: cfg.node_id.clone(),
            stored,
            config: config_path.to_path_buf(),
            data_dir: cfg.data_dir.clone(),
            cert: TlsFiles::new(&cfg.data_dir).path(NODE_CERT_FILE),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgcluster_actors::tls::pki::{ClusterCa, NodeKey};

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgcluster-datadir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("metadata").permissions().mode() & 0o7777
    }

    fn set(p: &Path, m: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(m)).expect("chmod");
    }

    #[test]
    fn create_makes_a_private_dir_and_tightens_an_existing_one() {
        let root = tempdir("create");
        let dir = root.join("a").join("data");
        create(&dir).expect("create");
        assert_eq!(mode(&dir), DIR_MODE);
        set(&dir, 0o755);
        create(&dir).expect("again");
        assert_eq!(mode(&dir), DIR_MODE);
        let file = root.join("file");
        fs::write(&file, "x").expect("write");
        assert!(matches!(create(&file), Err(DataDirError::Io { .. })), "a file is no data dir");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn fix_modes_sets_files_0600_and_dirs_0700() {
        let dir = tempdir("modes");
        create(&dir).expect("create");
        fs::create_dir_all(dir.join("tls").join("deep")).expect("mkdir");
        let cases: &[(&str, u32, bool)] = &[
            ("snapshot", 0o644, true),
            ("admin.token", 0o600, false),
            ("tls/ca.crt", 0o444, true),
            ("tls/deep/x", 0o4755, true),
            ("managed-interfaces", 0o666, true),
        ];
        for (file, m, _) in cases {
            let p = dir.join(file);
            fs::write(&p, "secret").expect("write");
            set(&p, *m);
        }
        set(&dir.join("tls"), 0o755);
        set(&dir.join("tls").join("deep"), 0o1777);
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).expect("symlink");

        let warnings = fix_modes(&dir).expect("fix");
        for (file, m, changed) in cases {
            let p = dir.join(file);
            assert_eq!(mode(&p), FILE_MODE, "{file}");
            let named = warnings.iter().any(|w| w.starts_with(&format!("{} had mode {m:04o}; set it to 0600", p.display())));
            assert_eq!(named, *changed, "{file}: {warnings:?}");
        }
        for (d, m) in [("tls", 0o755), ("tls/deep", 0o1777)] {
            let p = dir.join(d);
            assert_eq!(mode(&p), DIR_MODE, "{d}");
            assert!(warnings.iter().any(|w| w.starts_with(&format!("{} had mode {m:04o}; set it to 0700", p.display()))), "{warnings:?}");
        }
        assert!(warnings.iter().any(|w| w.contains("link") && w.contains("symbolic link")), "{warnings:?}");
        assert_eq!(mode(Path::new("/etc/passwd")) & 0o777, 0o644, "the link's target is left alone");
        assert_eq!(warnings.len(), 7, "{warnings:?}");
        // Fixed: the second pass only mentions the link.
        assert_eq!(fix_modes(&dir).expect("again").len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn identity_is_the_certificate_node_id() {
        let dir = tempdir("identity");
        create(&dir).expect("create");
        let config = Path::new("/etc/config/wgcluster");
        let cfg = |id: &str| DaemonConfig { node_id: id.into(), data_dir: dir.clone(), ..DaemonConfig::defaults() };
        // No certificate yet: nothing to compare.
        assert_eq!(stored_node_id(&dir).expect("read"), None);
        check_identity(config, &cfg("anything")).expect("no identity yet");

        let ca = ClusterCa::generate("test").expect("ca");
        let key = NodeKey::generate().expect("key");
        let files = TlsFiles::new(&dir);
        files.save_ca(&ca).expect("save ca");
        files.save_node_key(&key.key_pem()).expect("save key");
        files.save_node_cert(&ca.sign_node("node1", &key.public_key(), 1).expect("sign").cert_pem).expect("save cert");
        assert_eq!(stored_node_id(&dir).expect("read").as_deref(), Some("node1"));
        check_identity(config, &cfg("node1")).expect("same id");

        let err = check_identity(config, &cfg("node2")).expect_err("other id").to_string();
        let want = format!("node_id 'node2' in /etc/config/wgcluster does not match this data dir's identity 'node1' ({})", dir.display());
        assert!(err.starts_with(&want), "{err}");
        assert!(err.contains("set option node_id 'node1'") && err.contains("wgclusterd join"), "{err}");

        fs::write(files.path(NODE_CERT_FILE), "not a certificate").expect("write");
        let err = check_identity(config, &cfg("node1")).expect_err("damaged").to_string();
        assert!(err.starts_with(&files.path(NODE_CERT_FILE).display().to_string()), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
