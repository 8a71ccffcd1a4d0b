//! Repository rules as tests (run by `cargo test`, so by CI): every Rust file opens with a
//! `//!` doc saying what it holds, and the workspace and the loader (a workspace of its
//! own) are formatted as `cargo fmt` leaves them.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The repository's tracked Rust files.
    fn rust_files() -> Vec<PathBuf> {
        let out = Command::new("git")
            .args(["ls-files", "-z", "*.rs"])
            .current_dir(root())
            .output()
            .expect("git ls-files");
        assert!(out.status.success(), "git ls-files failed");
        out.stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| root().join(String::from_utf8_lossy(name).as_ref()))
            .collect()
    }

    #[test]
    fn every_rust_file_opens_with_a_module_doc() {
        let files = rust_files();
        assert!(files.len() > 50, "only {} Rust files found", files.len());
        let undocumented: Vec<_> = files
            .iter()
            .filter(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                !text.starts_with("//!")
            })
            .collect();
        assert!(
            undocumented.is_empty(),
            "files without a `//!` doc at the top: {undocumented:#?}"
        );
    }

    #[test]
    fn the_code_is_formatted() {
        for manifest in ["Cargo.toml", "boards/loader/Cargo.toml"] {
            let out = Command::new("cargo")
                .args(["fmt", "--all", "--check", "--manifest-path"])
                .arg(root().join(manifest))
                .output()
                .expect("cargo fmt");
            assert!(
                out.status.success(),
                "`cargo fmt --manifest-path {manifest}` would change:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
