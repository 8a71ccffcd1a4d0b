//! Real programs from crates.io, built for wasm32-wasip1, that `cargo xtask test` compares
//! with the reference `wasmtime run` on every board (with our own edge-case modules): an
//! interpreter (RustPython), a tool that walks directories (ripgrep), and tools that
//! transform stdin to stdout (jaq, sd, choose, hexyl). None is ours; each is pinned to a
//! version and built with `cargo install --locked` and the project's toolchain, once,
//! into `~/.cache/hermit-wasm/corpus/` (or `$HERMIT_WASM_CORPUS_DIR`), so that a fresh
//! clone on the same machine reuses it. A symbol a program's locked dependencies need and
//! the toolchain's wasi-libc no longer has comes from a shim of ours (`xtask/corpus-shims/`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::host::cargo_cmd::{cargo_with, registry_package};
use crate::host::toolchain;
use crate::plan::P2_TOOLCHAIN;
use crate::project::Project;

/// One program: the crate, its pinned version, how it is installed, and the binary.
pub struct Program {
    pub krate: &'static str,
    pub version: &'static str,
    /// Extra `cargo install` arguments (features).
    pub install: &'static [&'static str],
    pub bin: &'static str,
    /// Sources under `xtask/corpus-shims/` compiled to wasm objects and linked in: symbols
    /// the program's locked dependencies name and the toolchain's wasi-libc lacks.
    pub shims: &'static [&'static str],
}

pub const RIPGREP: Program = Program {
    krate: "ripgrep",
    version: "15.2.0",
    install: &[],
    bin: "rg",
    shims: &[],
};
/// Its standard library is not in the `.wasm`: it is mapped in from the crate
/// `rustpython-pylib`, which the install brings into cargo's registry.
pub const RUSTPYTHON: Program = Program {
    krate: "rustpython",
    version: "0.4.0",
    install: &[
        "--no-default-features",
        "--features",
        "stdlib rustpython-pylib/freeze-stdlib",
    ],
    bin: "rustpython",
    shims: &["process_cputime_clock.rs"],
};
pub const JAQ: Program = Program {
    krate: "jaq",
    version: "2.0.0",
    install: &["--no-default-features"],
    bin: "jaq",
    shims: &[],
};
pub const SD: Program = Program {
    krate: "sd",
    version: "1.0.0",
    install: &[],
    bin: "sd",
    shims: &[],
};
pub const CHOOSE: Program = Program {
    krate: "choose",
    version: "1.3.7",
    install: &[],
    bin: "choose",
    shims: &[],
};
pub const HEXYL: Program = Program {
    krate: "hexyl",
    version: "0.16.0",
    install: &[],
    bin: "hexyl",
    shims: &[],
};
/// Every program, by crate name.
pub const PROGRAMS: [&Program; 6] = [&RIPGREP, &RUSTPYTHON, &JAQ, &SD, &CHOOSE, &HEXYL];

/// An example program shipped in a crates.io package, built from the package's source in
/// cargo's registry for wasm32-wasip2 with [`P2_TOOLCHAIN`]. The `wasip2` package (the
/// WASI 0.2 bindings for Rust, by the Bytecode Alliance; in `Cargo.lock` already, for the
/// kernel's WIT) has examples that call the 0.2 interfaces directly rather than through
/// std: one exports `wasi:cli/run` itself, one has no std at all, one is a `wasi:http`
/// proxy (which the image refuses: it is not a command).
pub struct PackageExample {
    pub package: &'static str,
    pub version: &'static str,
    pub example: &'static str,
    /// Its file once built (cargo names a library example with underscores).
    pub file: &'static str,
}

/// The `wasip2` release the kernel takes its WIT from (`kernel/Cargo.toml`).
const WASIP2: (&str, &str) = ("wasip2", "2.0.1+wasi-0.2.12");

pub const WASIP2_CLI_COMMAND: PackageExample = PackageExample {
    package: WASIP2.0,
    version: WASIP2.1,
    example: "cli-command",
    file: "cli_command.wasm",
};
pub const WASIP2_HELLO_NO_STD: PackageExample = PackageExample {
    package: WASIP2.0,
    version: WASIP2.1,
    example: "hello-world-no_std",
    file: "hello-world-no_std.wasm",
};
pub const WASIP2_HTTP_PROXY: PackageExample = PackageExample {
    package: WASIP2.0,
    version: WASIP2.1,
    example: "http-proxy",
    file: "http_proxy.wasm",
};
/// Every package example, by example name.
pub const PACKAGE_EXAMPLES: [&PackageExample; 3] = [
    &WASIP2_CLI_COMMAND,
    &WASIP2_HELLO_NO_STD,
    &WASIP2_HTTP_PROXY,
];

/// The package example named `example`.
pub fn find_package_example(example: &str) -> Option<&'static PackageExample> {
    PACKAGE_EXAMPLES
        .into_iter()
        .find(|candidate| candidate.example == example)
}

impl PackageExample {
    /// The example's `.wasm`, built first if it is not there yet (seconds).
    pub fn wasm(&self, sh: &xshell::Shell, project: &Project) -> Result<PathBuf> {
        let target = "wasm32-wasip2";
        let dir = cache()?.join(format!("{}-{}-examples", self.package, self.version));
        let wasm = dir.join(target).join("release/examples").join(self.file);
        if wasm.exists() {
            return Ok(wasm);
        }
        let manifest = registry_package(sh, project, self.package, self.version)?;
        toolchain::ensure_target(sh, P2_TOOLCHAIN, target)?;
        // The package's own Cargo.lock; the build writes only into `dir`.
        cargo_with(sh, P2_TOOLCHAIN)
            .args([
                "build",
                "--locked",
                "--release",
                "--quiet",
                "--target",
                target,
            ])
            .args(["--example", self.example, "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&dir)
            .run()
            .with_context(|| {
                format!(
                    "building example {} of {} {}",
                    self.example, self.package, self.version
                )
            })?;
        if !wasm.exists() {
            bail!(
                "building example {} left no {}",
                self.example,
                wasm.display()
            );
        }
        Ok(wasm)
    }
}

/// The program of crate `krate`.
pub fn find(krate: &str) -> Option<&'static Program> {
    PROGRAMS.into_iter().find(|program| program.krate == krate)
}

/// RustPython's standard library (`Lib` of the crate `rustpython-pylib` 0.4.0, in cargo's
/// registry once RustPython is built).
pub fn rustpython_lib(project: &Project) -> Result<PathBuf> {
    RUSTPYTHON.wasm(project)?;
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => Path::new(&std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    let registry = home.join("registry/src");
    for index in
        std::fs::read_dir(&registry).with_context(|| format!("reading {}", registry.display()))?
    {
        let lib = index?.path().join("rustpython-pylib-0.4.0/Lib");
        if lib.is_dir() {
            return Ok(lib);
        }
    }
    bail!(
        "RustPython's standard library (rustpython-pylib-0.4.0/Lib) is not in {}: \
         `cargo fetch` it, or build RustPython again",
        registry.display()
    )
}

/// Where the programs are installed.
fn cache() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HERMIT_WASM_CORPUS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(Path::new(&home).join(".cache/hermit-wasm/corpus"))
}

impl Program {
    /// The program's `.wasm`, built first if it is not there yet (one to three minutes).
    pub fn wasm(&self, project: &Project) -> Result<PathBuf> {
        let root = cache()?.join(format!("{}-{}", self.krate, self.version));
        let wasm = root.join("bin").join(format!("{}.wasm", self.bin));
        if wasm.exists() {
            return Ok(wasm);
        }
        let channel = toolchain::channel(&project.root)?;
        let mut command = std::process::Command::new("cargo");
        command
            .args([
                "install",
                "--locked",
                "--quiet",
                "--target",
                "wasm32-wasip1",
            ])
            .arg("--root")
            .arg(&root)
            .arg(self.krate)
            .arg("--version")
            .arg(format!("={}", self.version))
            .args(self.install)
            // From `/`, with the project's pinned toolchain (it has wasm32-wasip1).
            .current_dir("/")
            .env("RUSTUP_TOOLCHAIN", &channel);
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if (name.starts_with("CARGO") || name.starts_with("RUST"))
                && !["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"].contains(&name)
            {
                command.env_remove(name);
            }
        }
        if !self.shims.is_empty() {
            let mut flags = Vec::new();
            for shim in self.shims {
                let object = shim_object(project, &channel, shim, &root)?;
                flags.push(format!("-Clink-arg={}", object.display()));
            }
            // Encoded (separated by 0x1f), so that a path with spaces stays one argument.
            command.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"));
        }
        eprintln!("$ {command:?}");
        let status = command
            .status()
            .with_context(|| format!("running cargo install {}", self.krate))?;
        if !status.success() || !wasm.exists() {
            bail!(
                "building {} {} for wasm32-wasip1 failed ({status}); run the command above to \
                 see why",
                self.krate,
                self.version
            );
        }
        Ok(wasm)
    }
}

/// Compiles the shim `name` (under `xtask/corpus-shims/`) to a wasm32-wasip1 object in
/// `root`, with the toolchain `channel`.
fn shim_object(project: &Project, channel: &str, name: &str, root: &Path) -> Result<PathBuf> {
    let source = project.root.join("xtask/corpus-shims").join(name);
    let dir = root.join("shims");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let object = dir.join(name).with_extension("o");
    let mut command = std::process::Command::new("rustc");
    command
        .args([
            "--target",
            "wasm32-wasip1",
            "--crate-type",
            "lib",
            "--emit",
            "obj",
        ])
        .args(["-C", "opt-level=2", "-o"])
        .arg(&object)
        .arg(&source)
        .env("RUSTUP_TOOLCHAIN", channel);
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("running rustc on {}", source.display()))?;
    if !status.success() {
        bail!(
            "compiling {} for wasm32-wasip1 failed ({status})",
            source.display()
        );
    }
    Ok(object)
}
