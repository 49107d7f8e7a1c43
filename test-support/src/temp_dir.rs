//! Scratch directories for tests, unique per process and thread, removed on drop.
use std::path::{Path, PathBuf};

/// A directory under the system's temporary directory, created at once and
/// removed with everything in it when dropped. The field is the path.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory whose name carries `tag`, the process id and the thread.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "dns-test-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory can be created");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `file` under the directory (creating subdirectories); its path.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("a temporary subdirectory can be created");
        }
        std::fs::write(&path, text).expect("a temporary file can be written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
