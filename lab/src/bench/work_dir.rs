//! A per-run directory for configurations, zones, query files and logs.
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

/// Removed on drop (unless `XTASK_KEEP` is set); those of runs killed
/// outright are removed by the next run.
pub struct WorkDir(pub PathBuf);

/// Work directories are named this, then the process id.
const WORK_DIR_PREFIX: &str = "xtask-bench-";

impl WorkDir {
    /// A work directory in the system's temporary directory.
    pub fn create() -> Result<Self> {
        Self::create_in(&std::env::temp_dir())
    }

    /// A work directory under `tmp`.
    pub fn create_in(tmp: &Path) -> Result<Self> {
        for entry in fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(WORK_DIR_PREFIX));
            if pid
                .and_then(|pid| pid.parse().ok())
                .is_some_and(|pid| !crate::signals::is_alive(pid))
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let path = tmp.join(format!("{WORK_DIR_PREFIX}{}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // XTASK_KEEP=1 keeps it (logs, configurations) for a look afterwards.
        if std::env::var_os("XTASK_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
