//! Writing an output under a temporary name beside its final one (`.NAME.partial`) and
//! renaming it into place once complete, so that a failed build never leaves anything
//! half-written under the output's name (bundles, disks, cloud formats).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The temporary name of `out`, in the same folder (so that the rename stays atomic).
pub fn path(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("{}: not a file name", out.display()))?;
    Ok(out.with_file_name(format!(".{}.partial", name.to_string_lossy())))
}

/// Runs `produce` on the temporary name of `out`, then renames it to `out`; on failure the
/// temporary file is removed and `out` is left as it was.
pub fn write_with(out: &Path, produce: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let partial = path(out)?;
    let result = produce(&partial).and_then(|()| {
        std::fs::rename(&partial, out).with_context(|| format!("renaming into {}", out.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Writes `bytes` to `out` with permissions `mode`, through its temporary name.
pub fn write(out: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_with(out, |partial| {
        std::fs::write(partial, bytes)?;
        std::fs::set_permissions(partial, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    })
    .with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_neither_the_output_nor_the_temporary_file() {
        let dir = std::env::temp_dir().join(format!("partial-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.bin");
        let err = write_with(&out, |partial| {
            std::fs::write(partial, b"half")?;
            anyhow::bail!("failed half-way")
        });
        assert!(err.is_err());
        assert!(!out.exists() && !path(&out).unwrap().exists());
        write(&out, b"whole", 0o755).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"whole");
        assert!(!path(&out).unwrap().exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
