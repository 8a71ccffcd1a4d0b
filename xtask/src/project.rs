//! Where things live in the repository: the workspace root and the folders the xtask reads
//! from (boards, modules) and writes to (target, images).

use std::path::{Path, PathBuf};

/// The repository's folders, all absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The repository this xtask was built from.
    pub fn locate() -> Project {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        Project {
            root: manifest_dir
                .parent()
                .expect("xtask lives in the workspace")
                .to_path_buf(),
        }
    }

    pub fn boards(&self) -> PathBuf {
        self.root.join("boards")
    }

    pub fn loader(&self) -> PathBuf {
        self.root.join("boards/loader")
    }

    pub fn builtins(&self) -> PathBuf {
        self.root.join("kernel/builtins")
    }

    pub fn modules(&self) -> PathBuf {
        self.root.join("modules")
    }

    pub fn target(&self) -> PathBuf {
        self.root.join("target")
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
}
