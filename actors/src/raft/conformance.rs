//! openraft's storage conformance suite run against our log store (`store`) and state machine.

use super::{LogStore, StateMachine, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use portable_atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct FileBuilder;

/// Keeps the temporary directory alive as long as the stores.
struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for FileBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = std::env::temp_dir().join(format!("wgc-conf-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| openraft::StorageIOError::write(super::io_err(e)))?;
        let store = crate::store::Store::open(&dir).map_err(|e| openraft::StorageIOError::write(super::io_err(e)))?;
        let store = Arc::new(store);
        let sm = StateMachine::open(store.clone())?;
        let log = LogStore::open(store).map_err(|e| openraft::StorageIOError::write(super::io_err(e)))?;
        Ok((TempDir(dir), log, sm))
    }
}

#[test]
fn file_store_passes_openraft_suite() {
    Suite::test_all(FileBuilder).expect("openraft storage suite");
}
