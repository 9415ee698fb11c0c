//! The only file I/O of cluster TLS: PEM files in `<data_dir>/tls/` (directory 0700).
//! `ca.crt` (every router), `ca.key` (routers that may sign), `node.crt`, `node.key`; every file
//! 0600, like everything in the data dir (only the daemon, as root, reads them). Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a
//! power cut leaves the old file or the new one, never half a key. Reading a key file that others
//! can read tightens it to 0600.

use super::pki::{ClusterCa, PkiError, SecretPem};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const NODE_CERT_FILE: &str = "node.crt";
pub const NODE_KEY_FILE: &str = "node.key";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Pki { path: PathBuf, source: PkiError },
}

/// This router's TLS material as read from disk.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub ca_cert_pem: String,
    pub node_cert_pem: String,
    pub node_key_pem: SecretPem,
}

/// The `<data_dir>/tls` directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("tls") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Saves the CA certificate and key (both 0600).
    pub fn save_ca(&self, ca: &ClusterCa) -> Result<(), StoreError> {
        self.write(CA_KEY_FILE, ca.key_pem().expose(), 0o600)?;
        self.write(CA_CERT_FILE, ca.cert_pem(), 0o600)
    }

    /// The CA with its key, `None` when this router has no CA key.
    pub fn load_ca(&self) -> Result<Option<ClusterCa>, StoreError> {
        let Some(cert) = self.read(CA_CERT_FILE, false)? else {
            return Ok(None);
        };
        let Some(key) = self.read(CA_KEY_FILE, true)? else {
            return Ok(None);
        };
        ClusterCa::from_pem(&cert, &key).map(Some).map_err(|source| StoreError::Pki { path: self.path(CA_KEY_FILE), source })
    }

    /// Saves the CA certificate alone (a router that joined: it has no CA key).
    pub fn save_ca_cert(&self, cert_pem: &str) -> Result<(), StoreError> {
        self.write(CA_CERT_FILE, cert_pem, 0o600)
    }

    pub fn save_node_key(&self, key_pem: &SecretPem) -> Result<(), StoreError> {
        self.write(NODE_KEY_FILE, key_pem.expose(), 0o600)
    }

    pub fn save_node_cert(&self, cert_pem: &str) -> Result<(), StoreError> {
        self.write(NODE_CERT_FILE, cert_pem, 0o600)
    }

    pub fn load_node_key(&self) -> Result<Option<SecretPem>, StoreError> {
        Ok(self.read(NODE_KEY_FILE, true)?.map(|k| SecretPem::new(k.to_string())))
    }

    /// CA certificate, node certificate and node key; `None` unless all three exist.
    pub fn load_node(&self) -> Result<Option<NodeFiles>, StoreError> {
        let ca = self.read(CA_CERT_FILE, false)?;
        let cert = self.read(NODE_CERT_FILE, false)?;
        let key = self.load_node_key()?;
        Ok(match (ca, cert, key) {
            (Some(ca), Some(cert), Some(key)) => {
                Some(NodeFiles { ca_cert_pem: ca.to_string(), node_cert_pem: cert.to_string(), node_key_pem: key })
            }
            _ => None,
        })
    }

    fn io_err(&self, file: &str) -> impl FnOnce(io::Error) -> StoreError {
        let path = self.path(file);
        move |source| StoreError::Io { path, source }
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| StoreError::Io { path: self.dir.clone(), source })
    }

    fn write(&self, file: &str, contents: &str, mode: u32) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let path = self.path(file);
        let tmp = self.path(&format!(".{file}.tmp"));
        let result = (|| {
            let _ = fs::remove_file(&tmp);
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(self.io_err(file))
    }

    /// Reads a file, `None` if it does not exist. Secret files are tightened to 0600.
    fn read(&self, file: &str, secret: bool) -> Result<Option<Zeroizing<String>>, StoreError> {
        let path = self.path(file);
        let contents = match fs::read_to_string(&path) {
            Ok(s) => Zeroizing::new(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_err(file)(e)),
        };
        if secret {
            let meta = fs::metadata(&path).map_err(self.io_err(file))?;
            if meta.permissions().mode() & 0o077 != 0 {
                log::warn!("{} was readable by others; setting it to 0600", path.display());
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(self.io_err(file))?;
            }
        }
        Ok(Some(contents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::NodeKey;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgcluster-tls-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_and_loads_with_modes() {
        let data = tempdir("modes");
        let files = TlsFiles::new(&data);
        assert!(files.load_ca().unwrap().is_none());
        assert!(files.load_node().unwrap().is_none());

        let ca = ClusterCa::generate("home").unwrap();
        files.save_ca(&ca).unwrap();
        let key = NodeKey::generate().unwrap();
        files.save_node_key(&key.key_pem()).unwrap();
        assert!(files.load_node().unwrap().is_none(), "no cert yet");
        let cert = ca.sign_node("n1", &key.public_key(), 1).unwrap();
        files.save_node_cert(&cert.cert_pem).unwrap();

        let mode = |f: &str| fs::metadata(files.path(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(fs::metadata(files.dir()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(mode(CA_KEY_FILE), 0o600);
        assert_eq!(mode(NODE_KEY_FILE), 0o600);
        assert_eq!(mode(CA_CERT_FILE), 0o600);
        assert_eq!(mode(NODE_CERT_FILE), 0o600);

        let loaded = files.load_ca().unwrap().unwrap();
        assert_eq!(loaded.fingerprint(), ca.fingerprint());
        let node = files.load_node().unwrap().unwrap();
        assert_eq!(node.node_cert_pem, cert.cert_pem);
        assert_eq!(node.ca_cert_pem, ca.cert_pem());
        assert_eq!(node.node_key_pem, key.key_pem());

        // overwrite is atomic and keeps the mode; a loose key file is tightened on read
        files.save_node_cert(&cert.cert_pem).unwrap();
        fs::set_permissions(files.path(NODE_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        files.load_node_key().unwrap().unwrap();
        assert_eq!(mode(NODE_KEY_FILE), 0o600);
        let leftovers: Vec<_> = fs::read_dir(files.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        let _ = fs::remove_dir_all(&data);
    }

    #[test]
    fn damaged_ca_is_a_clear_error() {
        let data = tempdir("damaged");
        let files = TlsFiles::new(&data);
        let ca = ClusterCa::generate("home").unwrap();
        files.save_ca(&ca).unwrap();
        fs::write(files.path(CA_KEY_FILE), "garbage").unwrap();
        let err = files.load_ca().unwrap_err().to_string();
        assert!(err.contains("ca.key") && err.contains("private key"), "{err}");
        assert!(!err.contains("garbage"));
        let _ = fs::remove_dir_all(&data);
    }
}
