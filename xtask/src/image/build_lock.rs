//! An exclusive lock on what the images of one board share: the kernel archive, the guest
//! ELF and the loader, which cargo builds in place. Two builds for the same board at once
//! (two `cargo xtask` commands, or the test harness's background builder and a case that
//! builds an image itself) would otherwise read a file while the other rewrites it. The
//! lock is the operating system's (`flock`), so a killed build never leaves it held.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};

/// Held until dropped.
pub struct BuildLock {
    _file: File,
}

impl BuildLock {
    /// Waits for the lock at `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<BuildLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening the build lock {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(BuildLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let path = std::env::temp_dir().join(format!("xtask-lock-test-{}", std::process::id()));
        let first = BuildLock::acquire(&path).unwrap();
        let other = File::options().write(true).open(&path).unwrap();
        assert!(other.try_lock().is_err(), "locked while held");
        drop(first);
        // Another test's child process may share the lock's descriptor between its fork and
        // its exec (the lock belongs to the open file), so the lock may stay taken for that
        // instant after the drop: try again for a while before calling it held.
        let freed = (0..500).any(|_| {
            let free = other.try_lock().is_ok();
            if !free {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            free
        });
        assert!(freed, "free once dropped");
        std::fs::remove_file(&path).unwrap();
    }
}
