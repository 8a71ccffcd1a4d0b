//! Repository rules as tests (run by `cargo test`, so by CI): every Rust file opens with a
//! `//!` doc saying what it holds; the workspace and the loader (a workspace of its own)
//! are formatted as `cargo fmt` leaves them; and the house keeps its shape: every board
//! profile has its row in `boards/README.md`, every template is used by an `include_str!`,
//! every page of `docs/` is linked from its index, every relative link in the Markdown
//! leads to a file, `xtask/src/plan/` neither starts a process nor writes a file, and no
//! module of the xtask, the kernel or the loader imports itself around a circle.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
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

    /// The tracked files under `dir` (relative to the root) whose names end in `suffix`.
    fn tracked(dir: &str, suffix: &str) -> Vec<PathBuf> {
        let out = Command::new("git")
            .args(["ls-files", "-z", "--", dir])
            .current_dir(root())
            .output()
            .expect("git ls-files");
        assert!(out.status.success(), "git ls-files failed");
        out.stdout
            .split(|&b| b == 0)
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .filter(|name| !name.is_empty() && name.ends_with(suffix))
            .map(PathBuf::from)
            .collect()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(root().join(path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn every_board_has_its_row_in_the_boards_readme() {
        let readme = read(Path::new("boards/README.md"));
        let profiles = tracked("boards", ".toml")
            .into_iter()
            .filter(|path| path.parent() == Some(Path::new("boards")))
            .collect::<Vec<_>>();
        assert!(profiles.len() >= 3, "only {profiles:?}");
        let missing: Vec<_> = profiles
            .iter()
            .filter_map(|path| path.file_stem()?.to_str())
            .filter(|board| !readme.contains(&format!("| `{board}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "boards without a row (`| `NAME` ...`) in boards/README.md: {missing:?}"
        );
    }

    #[test]
    fn every_template_is_included_by_the_xtask() {
        // Every path an `include_str!` of the xtask names.
        let included: Vec<String> = tracked("xtask/src", ".rs")
            .iter()
            .flat_map(|path| {
                let text = read(path);
                text.split("include_str!(\"")
                    .skip(1)
                    .filter_map(|rest| rest.split_once("\")").map(|(arg, _)| arg.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let templates = tracked("xtask/templates", "");
        assert!(templates.len() > 10, "only {templates:?}");
        let unused: Vec<_> = templates
            .iter()
            .filter(|path| {
                let name = path.strip_prefix("xtask").unwrap().display().to_string();
                !included
                    .iter()
                    .any(|arg| arg.ends_with(&format!("/{name}")))
            })
            .collect();
        assert!(
            unused.is_empty(),
            "templates no `include_str!` in xtask/src takes: {unused:?}"
        );
    }

    #[test]
    fn every_doc_is_linked_from_the_docs_index() {
        let index = read(Path::new("docs/README.md"));
        let unlinked: Vec<_> = tracked("docs", ".md")
            .into_iter()
            .filter(|path| path != Path::new("docs/README.md"))
            .filter(|path| {
                let name = path.strip_prefix("docs").unwrap().display().to_string();
                !index.contains(&format!("]({name})"))
            })
            .collect();
        assert!(
            unlinked.is_empty(),
            "pages of docs/ that docs/README.md does not link: {unlinked:?}"
        );
    }

    #[test]
    fn every_relative_markdown_link_leads_to_a_file() {
        let mut broken = Vec::new();
        for page in tracked(".", ".md") {
            let text = read(&page);
            for link in text.split("](").skip(1) {
                let Some(target) = link.split(')').next() else {
                    continue;
                };
                let target = target.split('#').next().unwrap_or("");
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let path = page.parent().unwrap_or(Path::new("")).join(target);
                if !root().join(&path).exists() {
                    broken.push(format!("{}: {target}", page.display()));
                }
            }
        }
        assert!(broken.is_empty(), "links to nothing: {broken:#?}");
    }

    /// `plan/` is the pure part of the build: outside its tests it starts no process and
    /// writes, moves or deletes no file (reading its inputs is all it does).
    #[test]
    fn the_plan_starts_no_process_and_writes_no_file() {
        const FORBIDDEN: [&str; 11] = [
            "Command",
            "cmd!",
            "Shell",
            "fs::write",
            "create_dir",
            "remove_file",
            "remove_dir",
            "fs::rename",
            "fs::copy",
            "File::create",
            "OpenOptions",
        ];
        let mut found = Vec::new();
        for path in tracked("xtask/src/plan", ".rs") {
            if path.file_name() == Some(std::ffi::OsStr::new("tests.rs")) {
                continue;
            }
            let text = read(&path);
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or("");
                for word in FORBIDDEN.iter().filter(|word| line.contains(*word)) {
                    found.push(format!("{}:{}: {word}", path.display(), n + 1));
                }
            }
        }
        assert!(found.is_empty(), "the plan must stay pure: {found:#?}");
    }

    /// The modules of the crate whose sources are under `src` (relative to the root), each
    /// with the modules its code outside tests names through `crate::`, `super::` and
    /// `self::` paths (its own descendants left out). A module is a file: `a/b.rs` and
    /// `a/b/mod.rs` are `a::b`. A `main.rs` beside a `lib.rs` is another crate (the
    /// binary), and left out.
    fn crate_imports(src: &str) -> BTreeMap<String, BTreeSet<String>> {
        let files = tracked(src, ".rs");
        let has_lib = files
            .iter()
            .any(|path| path == &Path::new(src).join("lib.rs"));
        let mut modules = BTreeMap::new();
        for path in &files {
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            if has_lib && rel == Path::new("main") {
                continue;
            }
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "main" | "lib")
            ) {
                parts.pop();
            }
            if parts.last().map(String::as_str) == Some("tests") {
                continue;
            }
            modules.insert(parts.join("::"), read(path));
        }
        let resolve = |path: &str| -> Option<String> {
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|module| modules.contains_key(module))
        };
        let mut imports = BTreeMap::new();
        for (module, text) in &modules {
            // The code outside tests, without comment lines (a doc's links are no imports).
            let code: String = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or("")
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(|line| format!("{line}\n"))
                .collect();
            let code = code.as_str();
            let mut named = BTreeSet::new();
            // Every `crate::`, `super::` or `self::` path, as a path from the crate's root.
            let mut starts = Vec::new();
            for keyword in ["crate::", "super::", "self::"] {
                let mut from = 0;
                while let Some(at) = code[from..].find(keyword) {
                    let at = from + at;
                    let before = code[..at].chars().next_back();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                        starts.push(at);
                    }
                    from = at + keyword.len();
                }
            }
            for start in starts {
                let mut rest = &code[start..];
                let mut base: Vec<&str> = if module.is_empty() {
                    Vec::new()
                } else {
                    module.split("::").collect()
                };
                if let Some(after) = rest.strip_prefix("crate::") {
                    base.clear();
                    rest = after;
                } else if let Some(after) = rest.strip_prefix("self::") {
                    rest = after;
                } else {
                    while let Some(after) = rest.strip_prefix("super::") {
                        base.pop();
                        rest = after;
                    }
                }
                let base = base.join("::");
                // `a::b::{c, d::e}` or `a::b::c`: every path the item names.
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || "_:{}, ".contains(c)))
                    .unwrap_or(rest.len());
                let item = &rest[..end];
                let (prefix, group) = match item.split_once('{') {
                    Some((prefix, group)) => (prefix, group.split('}').next().unwrap_or("")),
                    None => (item, ""),
                };
                let mut paths = vec![prefix.trim_end_matches(':').to_string()];
                for entry in group.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let entry = entry.split("::{").next().unwrap_or(entry);
                    if entry != "self" {
                        paths.push(format!("{prefix}{entry}"));
                    }
                }
                for path in paths {
                    let path = format!("{base}::{}", path.trim());
                    if let Some(target) = resolve(&path) {
                        if target != *module && !target.starts_with(&format!("{module}::")) {
                            named.insert(target);
                        }
                    }
                }
            }
            imports.insert(module.clone(), named);
        }
        imports
    }

    /// A circle of imports in `imports`, if there is one (as the modules along it).
    fn import_circle(imports: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            module: &str,
            imports: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(start) = path.iter().position(|m| m == module) {
                let mut circle = path[start..].to_vec();
                circle.push(module.to_string());
                return Some(circle);
            }
            if done.contains(module) {
                return None;
            }
            path.push(module.to_string());
            for next in imports.get(module).into_iter().flatten() {
                if let Some(circle) = visit(next, imports, path, done) {
                    return Some(circle);
                }
            }
            path.pop();
            done.insert(module.to_string());
            None
        }
        let mut done = BTreeSet::new();
        imports
            .keys()
            .find_map(|module| visit(module, imports, &mut Vec::new(), &mut done))
    }

    /// Two modules that import each other (directly or around a circle) are one module
    /// in two files: a shared definition goes where both sides can see it.
    #[test]
    fn no_module_imports_itself_around_a_circle() {
        for src in ["xtask/src", "kernel/src", "boards/loader/src"] {
            let imports = crate_imports(src);
            assert!(imports.len() > 10, "{src}: only {imports:?}");
            if let Some(circle) = import_circle(&imports) {
                panic!("{src}: an import circle: {}", circle.join(" -> "));
            }
        }
    }

    #[test]
    fn an_import_circle_is_found() {
        let imports = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
            .into_iter()
            .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
            .collect();
        assert_eq!(
            import_circle(&imports).map(|c| c.join(" -> ")),
            Some("a -> b -> c -> a".to_string())
        );
    }
}
