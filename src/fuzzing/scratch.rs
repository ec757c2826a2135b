//! Scratch directories for the harnesses whose reader takes a path rather than bytes
//! (`Model::open` reads the checkpoint from disk and looks beside it for `config.json` and the
//! sidecar): one fresh directory per input, so that no two inputs, test threads or fuzzer
//! processes see each other's files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An empty directory under [`std::env::temp_dir`], removed with its contents when dropped (also
/// when the harness panics, since the tests catch the panic and go on).
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates `TMPDIR/repq-fuzz-TAG-PID-N`, N counting this process's directories. Panics if
    /// the directory cannot be made: the harness cannot run, whatever its input.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("repq-fuzz-{tag}-{}-{n}", std::process::id()));
        // A killed process with the same id may have left the directory, with its files.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ScratchDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` as the file `name` in the directory; the file's path. Panics on an I/O
    /// error, as [`ScratchDir::new`] does.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
