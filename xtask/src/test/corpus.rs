//! The comparison corpus of `cargo xtask test`: real programs from crates.io
//! (`compare/corpus.rs`: an interpreter, a directory walker, tools from stdin to stdout) and
//! our own edge-case modules, each run the same way under the reference `wasmtime run` and
//! in every board's VM (`compare/mod.rs`). Any difference in stdout, stderr, exit status or the folders
//! afterwards fails the case.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context, Result};
use hermit_wasm_kernel::map_spec::MapSpec;

use crate::compare;
use crate::compare::corpus::{self, PackageExample, Program};
use crate::compare::reference;
use crate::plan::example_wasm;
use crate::project::Project;
use crate::test::case::{named, scratch, Case, Image};

/// What runs: one of our examples, or a real program, as built or made a WASI 0.2
/// component with the official preview1 adapter, or an example of a crates.io package.
#[derive(Clone, Copy)]
pub enum Subject {
    Example(&'static str),
    Real(&'static Program),
    Adapted(&'static Program),
    Package(&'static PackageExample),
}

/// A folder a case maps, made afresh for it (and then copied for each side).
#[derive(Clone, Copy)]
enum Fixture {
    /// `greeting.txt`, `old.txt` and a 20,000-line `big.txt`.
    Files,
    /// A small source tree: `README.md`, `notes.txt`, `src/{main.rs,lib.rs,sub/util.py}`.
    Tree,
    /// `demo.py`, a Python script that uses `json` and `sys.argv`.
    Scripts,
    /// RustPython's standard library, as its crate ships it.
    PythonLib,
}

/// One comparison: what runs and how, the same on both sides.
struct Entry {
    label: &'static str,
    subject: Subject,
    args: &'static [&'static str],
    env: &'static [&'static str],
    /// Bytes for stdin (none: empty).
    stdin: Option<&'static [u8]>,
    /// Folders, each under its guest name.
    maps: &'static [(Fixture, &'static str)],
    /// Bytes each linear memory may grow to.
    memory_limit: Option<u64>,
}

impl Entry {
    const fn new(label: &'static str, subject: Subject) -> Entry {
        Entry {
            label,
            subject,
            args: &[],
            env: &[],
            stdin: None,
            maps: &[],
            memory_limit: None,
        }
    }
    const fn memory_limit(mut self, bytes: u64) -> Entry {
        self.memory_limit = Some(bytes);
        self
    }
    const fn args(mut self, args: &'static [&'static str]) -> Entry {
        self.args = args;
        self
    }
    const fn env(mut self, env: &'static [&'static str]) -> Entry {
        self.env = env;
        self
    }
    const fn stdin(mut self, stdin: &'static [u8]) -> Entry {
        self.stdin = Some(stdin);
        self
    }
    const fn maps(mut self, maps: &'static [(Fixture, &'static str)]) -> Entry {
        self.maps = maps;
        self
    }
}

use Subject::{Adapted, Example, Package, Real};

const ENTRIES: &[Entry] = &[
    // Real programs.
    Entry::new("compare/ripgrep-search", Real(&corpus::RIPGREP))
        .args(&["--sort", "path", "-n", "hello", "/data"])
        .maps(&[(Fixture::Tree, "/data")]),
    // Piped, so `path:line` lines, not a terminal's headings.
    Entry::new("compare/ripgrep-walk-dot", Real(&corpus::RIPGREP))
        .args(&["--sort", "path", "hello", "."])
        .maps(&[(Fixture::Tree, ".")]),
    Entry::new("compare/ripgrep-files", Real(&corpus::RIPGREP))
        .args(&["--files", "--sort", "path", "."])
        .maps(&[(Fixture::Tree, ".")]),
    Entry::new("compare/rustpython-script", Real(&corpus::RUSTPYTHON))
        .args(&["/scripts/demo.py", "a", "b c"])
        // Bytecode caches hold hash-seeded data: no two runs would write the same.
        .env(&["RUSTPYTHONPATH=/lib", "PYTHONDONTWRITEBYTECODE=1"])
        .maps(&[(Fixture::Scripts, "/scripts"), (Fixture::PythonLib, "/lib")]),
    Entry::new("compare/jaq-filter", Real(&corpus::JAQ))
        .args(&[
            "-c",
            ".items |= sort | {name, n: (.items|length), items, ok: .nested.ok}",
        ])
        .stdin(br#"{"name":"corpus","items":[3,1,2],"nested":{"ok":true}}"#),
    Entry::new("compare/sd-replace", Real(&corpus::SD))
        .args(&[r"foo=(\d)", "baz:$1"])
        .stdin(b"foo=1\nbar=2\nfoo=3\n"),
    Entry::new("compare/choose-fields", Real(&corpus::CHOOSE))
        .args(&["2", "0"])
        .stdin(b"alpha beta gamma\none two three\n"),
    Entry::new("compare/hexyl-dump", Real(&corpus::HEXYL))
        .args(&["--border", "ascii"])
        .env(&["NO_COLOR=1"])
        .stdin(b"Hello, WASI!\n\x00\x01\xfe\xff"),
    // Real programs as WASI 0.2 components (the preview1 adapter's 0.2 imports, served by
    // the guest's 0.2 front door): directory streams under an absolute and a `.` preopen,
    // stdin to stdout, binary stdin.
    Entry::new(
        "compare/p2-adapted-ripgrep-search",
        Adapted(&corpus::RIPGREP),
    )
    .args(&["--sort", "path", "-n", "hello", "/data"])
    .maps(&[(Fixture::Tree, "/data")]),
    Entry::new(
        "compare/p2-adapted-ripgrep-files",
        Adapted(&corpus::RIPGREP),
    )
    .args(&["--files", "--sort", "path", "."])
    .maps(&[(Fixture::Tree, ".")]),
    Entry::new("compare/p2-adapted-jaq-filter", Adapted(&corpus::JAQ))
        .args(&["-c", ".items |= sort | {name, n: (.items|length)}"])
        .stdin(br#"{"name":"corpus","items":[3,1,2]}"#),
    Entry::new("compare/p2-adapted-hexyl-dump", Adapted(&corpus::HEXYL))
        .args(&["--border", "ascii"])
        .env(&["NO_COLOR=1"])
        .stdin(b"Hello, WASI 0.2!\n\x00\x01\xfe\xff"),
    // Components no one here wrote that call the 0.2 interfaces directly: one exporting
    // `wasi:cli/run` itself (no std `main`), one without std.
    Entry::new(
        "compare/p2-wasip2-cli-command",
        Package(&corpus::WASIP2_CLI_COMMAND),
    ),
    Entry::new(
        "compare/p2-wasip2-hello-no-std",
        Package(&corpus::WASIP2_HELLO_NO_STD),
    ),
    // Our edge cases.
    Entry::new("compare/hello-args", Example("hello")).args(&["two words", "it's", "--flag"]),
    Entry::new("compare/exit-code-7", Example("exit-code")).args(&["7"]),
    // An exit status WASI cannot carry: the run ends with an error (exit status 1).
    Entry::new("compare/exit-code-200", Example("exit-code")).args(&["200"]),
    Entry::new("compare/trap", Example("trap")),
    Entry::new("compare/large-offset", Example("large-offset")),
    Entry::new("compare/bulk-copy", Example("bulk-copy")),
    Entry::new("compare/printenv", Example("printenv"))
        .args(&["a"])
        .env(&["A=1", "B=two words", "EMPTY="]),
    Entry::new("compare/cat-stdin", Example("cat"))
        .stdin(b"line one\n\x00binary\xff\nno newline at the end"),
    Entry::new("compare/cat-stdin-at-eof", Example("cat")),
    Entry::new("compare/head-stdin", Example("head"))
        .args(&["-n", "2"])
        .stdin(b"one\ntwo\nthree\n"),
    Entry::new("compare/stdio-not-terminals", Example("isatty")),
    Entry::new("compare/preopen-dot", Example("reopen"))
        .args(&["."])
        .maps(&[(Fixture::Files, ".")]),
    Entry::new("compare/preopen-relative", Example("reopen"))
        .args(&["data"])
        .maps(&[(Fixture::Files, "data")]),
    Entry::new("compare/wc-map", Example("wc"))
        .args(&["/data/big.txt", "/data/greeting.txt"])
        .maps(&[(Fixture::Files, "/data")]),
    Entry::new("compare/tee-map", Example("tee"))
        .args(&["/data/new.txt"])
        .stdin(b"written\n")
        .maps(&[(Fixture::Files, "/data")]),
    Entry::new("compare/mv-map", Example("mv"))
        .args(&["/data/old.txt", "/data/moved.txt"])
        .maps(&[(Fixture::Files, "/data")]),
    Entry::new("compare/ln-map", Example("ln"))
        .args(&["-s", "greeting.txt", "/data/link.txt"])
        .maps(&[(Fixture::Files, "/data")]),
    // The memory limit refuses the growth where Wasmtime's does.
    Entry::new("compare/grow-past-memory-limit", Example("limits"))
        .args(&["grow", "100"])
        .memory_limit(16 << 20),
    Entry::new("compare/cat-missing-file", Example("cat"))
        .args(&["/data/missing.txt"])
        .maps(&[(Fixture::Files, "/data")]),
    // A WASI 0.2 component (`p2-tour`, one subcommand per interface) through the guest's
    // 0.2 front door.
    Entry::new("compare/p2-args", Example("p2-tour")).args(&["hello", "two words", "it's"]),
    Entry::new("compare/p2-env", Example("p2-tour"))
        .args(&["env", "A", "EMPTY", "ABSENT"])
        .env(&["A=1", "EMPTY="]),
    Entry::new("compare/p2-stderr", Example("p2-tour")).args(&["stderr", "to", "stderr"]),
    Entry::new("compare/p2-stdin-streamed", Example("p2-tour"))
        .args(&["cat"])
        .stdin(b"line one\n\x00binary\xff\nno newline at the end"),
    Entry::new("compare/p2-stdin-at-eof", Example("p2-tour")).args(&["cat"]),
    Entry::new("compare/p2-exit-with-code", Example("p2-tour")).args(&["exit-with-code", "7"]),
    // std's `exit(7)` on wasip2 is `exit(err)`: status 1.
    Entry::new("compare/p2-std-exit", Example("p2-tour")).args(&["exit", "7"]),
    Entry::new("compare/p2-unknown-command", Example("p2-tour")).args(&["no-such-command"]),
    Entry::new("compare/p2-not-terminals", Example("p2-tour")).args(&["terminals"]),
    Entry::new("compare/p2-clock-sleep", Example("p2-tour")).args(&["sleep", "20"]),
    Entry::new("compare/p2-random", Example("p2-tour")).args(&["random"]),
    // Create, append, a 100 kB file, list, stat, rename, a missing file, remove: under an
    // absolute, a `.` and a relative preopen.
    Entry::new("compare/p2-files-absolute", Example("p2-tour"))
        .args(&["files", "/data"])
        .maps(&[(Fixture::Files, "/data")]),
    Entry::new("compare/p2-files-dot", Example("p2-tour"))
        .args(&["files", "."])
        .maps(&[(Fixture::Files, ".")]),
    Entry::new("compare/p2-files-relative", Example("p2-tour"))
        .args(&["files", "data"])
        .maps(&[(Fixture::Files, "data")]),
    Entry::new("compare/p2-read-large-file", Example("p2-tour"))
        .args(&["read", "/data/big.txt"])
        .maps(&[(Fixture::Files, "/data")]),
];

/// Writes fixture `fixture` into a new folder `dir` (or names the folder it is).
fn fixture(project: &Project, fixture: Fixture, dir: &Path) -> Result<PathBuf> {
    let write = |path: &str, text: &str| -> Result<()> {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().context("a folder")?)?;
        std::fs::write(path, text)?;
        Ok(())
    };
    match fixture {
        Fixture::Files => {
            write("greeting.txt", "hello from the host\n")?;
            write("old.txt", "moved\n")?;
            let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
            write("big.txt", &big)?;
        }
        Fixture::Tree => {
            write("README.md", "# Demo\nSay hello to the corpus.\n")?;
            write("notes.txt", "nothing to see here\n")?;
            write(
                "src/main.rs",
                "// entry point\nfn main() {\n    println!(\"hello world\");\n}\n",
            )?;
            write(
                "src/lib.rs",
                "pub fn add(a: i32, b: i32) -> i32 {\n    a + b // TODO: overflow\n}\n",
            )?;
            write(
                "src/sub/util.py",
                "# helper module\ndef hello():\n    return \"hello\"\n",
            )?;
        }
        Fixture::Scripts => write(
            "demo.py",
            "import json, sys\n\
             def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\
             print(\"fib sum =\", sum(fib(i) for i in range(10)))\n\
             data = {\"name\": \"corpus\", \"items\": sorted([3, 1, 2])}\n\
             print(json.dumps(data, sort_keys=True))\n\
             print(sys.argv[1:])\n",
        )?,
        Fixture::PythonLib => return corpus::rustpython_lib(project),
    }
    Ok(dir.to_path_buf())
}

/// The reference `wasmtime`, built once for the whole run by whichever case asks first.
pub fn reference(project: &Project) -> Result<PathBuf> {
    static REFERENCE: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    REFERENCE
        .get_or_init(|| reference::wasmtime(project).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("the reference wasmtime: {e}"))
}

/// Every entry, on every board.
pub fn cases(project: &Arc<Project>, boards: &[String], cases: &mut Vec<Case>) {
    for board in boards {
        for entry in ENTRIES {
            let case = named(board, entry.label);
            let project = project.clone();
            let image = match entry.subject {
                Example(module) => Image::Plain {
                    board: board.clone(),
                    module: module.to_string(),
                },
                Real(program) => Image::Real {
                    board: board.clone(),
                    program: program.krate.to_string(),
                },
                Adapted(program) => Image::Adapted {
                    board: board.clone(),
                    program: program.krate.to_string(),
                },
                Package(example) => Image::Package {
                    board: board.clone(),
                    example: example.example.to_string(),
                },
            };
            let board = board.clone();
            cases.push(Case::new(case.clone(), vec![image], move |plans| {
                let reference = reference(&project)?;
                let work = scratch(&project, &case)?;
                let mut maps = Vec::new();
                for (k, (kind, guest)) in entry.maps.iter().enumerate() {
                    let host = fixture(&project, *kind, &work.join(format!("fixture-{k}")))?;
                    maps.push(MapSpec {
                        host: host.display().to_string(),
                        guest: Some(guest.to_string()),
                        read_only: false,
                    });
                }
                let stdin = match entry.stdin {
                    Some(bytes) => {
                        let path = work.join("stdin");
                        std::fs::write(&path, bytes)?;
                        Some(path)
                    }
                    None => None,
                };
                let wasm = match entry.subject {
                    Example(module) => example_wasm(&project, module),
                    Real(program) => program.wasm(&project)?,
                    Adapted(program) => {
                        compare::adapter::component_beside(&program.wasm(&project)?)?
                    }
                    Package(example) => example.wasm(&xshell::Shell::new()?, &project)?,
                };
                let run = compare::Run {
                    wasm,
                    maps,
                    env: entry.env.iter().map(|e| e.to_string()).collect(),
                    stdin,
                    args: entry.args.iter().map(|a| a.to_string()).collect(),
                    memory_limit: entry.memory_limit,
                    preloads: Vec::new(),
                    invoke: None,
                    work: work.join("sides"),
                };
                match compare::compare(&reference, &plans[0].image.run_qemu, &board, &run)? {
                    None => Ok(()),
                    Some(diff) => Err(anyhow!("differs from wasmtime run:\n{diff}")),
                }
            }));
        }
    }
}
