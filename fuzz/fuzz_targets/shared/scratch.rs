//! A scratch directory for the targets that need files.

use std::path::{Path, PathBuf};

/// `ccwal-fuzz-NAME-PID` in /dev/shm when there is one (a memory file
/// system: thousands of runs a second write no disk), else in the
/// temporary directory; one per process, so parallel jobs do not meet.
pub fn scratch_dir(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("ccwal-fuzz-{name}-{}", std::process::id()))
}
