//! The build plan: the pure function from what the user asked for (arguments or a
//! Hermitfile, `hermitfile/`) and a board profile (`profile.rs`) to every artifact,
//! folder, cache key and compiler setting an image needs. `image/` executes the plan.
//!
//! Invariant: nothing in `plan/` starts a process or writes a file; it reads only its
//! inputs (the profile, the Hermitfile, the folders a Hermitfile maps), so every decision
//! is unit-tested without building anything (`tidy.rs` checks this).

pub mod hermitfile;
pub mod profile;

#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use hermit_wasm_kernel::manifest::RunConfig;

use crate::plan::hermitfile::Link;
use crate::plan::profile::Board;
use crate::project::Project;

/// The Hermit kernel release we build (its source comes from crates.io).
pub const KERNEL_VERSION: &str = "0.11.0";

/// The toolchain that builds the kernel archive, apart from the one in `rust-toolchain.toml`
/// (guest, xtask, modules, which Wasmtime 48 wants at 1.95 or later): kernel 0.11 pins
/// nightly-2025-03-15 and uses unstable features of that time; the day before its pin
/// builds it the same and is the one every kernel archive so far was built and booted with.
pub const KERNEL_TOOLCHAIN: &str = "nightly-2025-03-14";

/// The toolchain that builds the wasm32-wasip1-threads examples: the pinned nightly ships no
/// std for that target on rustup, this stable release does.
pub const THREADS_TOOLCHAIN: &str = "1.95.0";

/// The toolchain that builds the WASI 0.2 examples (components): the pinned nightly ships
/// no std for wasm32-wasip2 on rustup either.
pub const P2_TOOLCHAIN: &str = "1.95.0";

/// How an example under `modules/` is built: for wasm32-wasip1 with the pinned toolchain;
/// for the examples named `threads-*`, for wasm32-wasip1-threads with
/// [`THREADS_TOOLCHAIN`]; for those named `p2-*`, for wasm32-wasip2 (a component) with
/// [`P2_TOOLCHAIN`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleTarget {
    pub target: &'static str,
    /// `None`: the toolchain of `rust-toolchain.toml`.
    pub toolchain: Option<&'static str>,
}

impl ExampleTarget {
    pub fn of(package: &str) -> ExampleTarget {
        if package.starts_with("threads-") {
            ExampleTarget {
                target: "wasm32-wasip1-threads",
                toolchain: Some(THREADS_TOOLCHAIN),
            }
        } else if package.starts_with("p2-") {
            ExampleTarget::component()
        } else {
            ExampleTarget {
                target: "wasm32-wasip1",
                toolchain: None,
            }
        }
    }

    /// For wasm32-wasip2: a WASI 0.2 command, which rustc builds as a component.
    pub fn component() -> ExampleTarget {
        ExampleTarget {
            target: "wasm32-wasip2",
            toolchain: Some(P2_TOOLCHAIN),
        }
    }

    /// The example's `.wasm` once built into `target` (the project's target folder).
    pub fn wasm(&self, target: &std::path::Path, package: &str) -> PathBuf {
        target
            .join("modules")
            .join(self.target)
            .join("release")
            .join(format!("{package}.wasm"))
    }
}

/// Where example `module`'s `.wasm` is once built.
pub fn example_wasm(project: &Project, module: &str) -> PathBuf {
    ExampleTarget::of(module).wasm(&project.target(), module)
}

/// The module that `cargo xtask qemu` boots when none is named.
pub const DEFAULT_MODULE: &str = "hello";

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// A crate under `modules/` (built for wasm32-wasip1) or a `.wasm` file.
    pub module: ModuleSource,
    /// Image name: `images/<board>/<name>/`. Defaults to the module's name.
    pub name: Option<String>,
    /// Overrides the board's compiled-in kernel log level.
    pub kernel_log: Option<String>,
    /// What the module is granted (from a Hermitfile; nothing by default).
    pub grants: RunConfig,
    /// Core modules it links (Hermitfile `LINK`), in order.
    pub links: Vec<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// `modules/<name>`, a Rust crate.
    Example(String),
    /// A `.wasm` file.
    File(PathBuf),
}

impl ModuleSource {
    /// `--module` takes either a path to a `.wasm` file or the name of an example module.
    pub fn from_arg(arg: &str) -> ModuleSource {
        if arg.ends_with(".wasm") || arg.contains('/') {
            ModuleSource::File(PathBuf::from(arg))
        } else {
            ModuleSource::Example(arg.to_string())
        }
    }

    pub fn name(&self) -> String {
        match self {
            ModuleSource::Example(name) => name.clone(),
            ModuleSource::File(path) => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("module")
                .to_string(),
        }
    }
}

/// Building `libhermit.a` for one board and feature set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelBuild {
    pub version: String,
    pub target: String,
    pub features: Vec<String>,
    /// Rustflags, in the order given to `CARGO_ENCODED_RUSTFLAGS`.
    pub rustflags: Vec<String>,
    pub log_level: String,
    /// The toolchain cargo builds it with (`KERNEL_TOOLCHAIN`).
    pub toolchain: String,
    /// Hash of everything above: the cache folder's name.
    pub key: String,
    /// Where cargo builds the kernel (shared by all keys; cargo's own caching applies).
    pub cargo_target_dir: PathBuf,
    /// Our builtins crate and its target (the board's Hermit target).
    pub builtins_manifest: PathBuf,
    pub builtins_target: String,
    /// Holds the finished `libhermit.a`; its presence means "built".
    pub out_dir: PathBuf,
}

impl KernelBuild {
    pub fn archive(&self) -> PathBuf {
        self.out_dir.join("libhermit.a")
    }
}

/// Building the loader for QEMU boards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderBuild {
    pub manifest: PathBuf,
    pub target: String,
    pub cargo_target_dir: PathBuf,
    pub elf: PathBuf,
}

/// Building (or taking) the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleBuild {
    /// `cargo build -p <package> --target <target> --release`, output `wasm`.
    Crate {
        package: String,
        how: ExampleTarget,
        wasm: PathBuf,
    },
    File {
        wasm: PathBuf,
    },
}

/// Building the guest kernel, once per board and kernel: each image is a copy of its ELF
/// with the image's payload attached (`image/payload_segment.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestBuild {
    pub target: String,
    pub cargo_target_dir: PathBuf,
    /// The linked guest, with its symbols (for debuggers).
    pub elf: PathBuf,
    /// The same guest without its symbol table, at the same addresses: what images carry.
    pub stripped: PathBuf,
}

/// The finished image's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub dir: PathBuf,
    pub guest: PathBuf,
    pub loader: PathBuf,
    pub manifest: PathBuf,
    pub run_qemu: PathBuf,
    /// Only on boards that uhyve can boot.
    pub run_uhyve: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildPlan {
    pub board: Board,
    pub name: String,
    pub module_name: String,
    pub kernel: KernelBuild,
    pub loader: LoaderBuild,
    pub module: ModuleBuild,
    /// How the module runs: what it is granted, arguments baked in before those given at
    /// launch.
    pub run: RunConfig,
    /// Core modules preloaded for the module's imports, in the order they are instantiated.
    pub links: Vec<Link>,
    pub guest: GuestBuild,
    pub image: ImageLayout,
}

/// The image name `request` asks for (`--name`, else the module's name), if it is one:
/// `[A-Za-z0-9._-]+`, not `.` or `..`. It names a folder under `images/<board>/` and
/// appears in the launch scripts, so nothing else passes.
pub fn image_name(request: &Request) -> anyhow::Result<String> {
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| request.module.name());
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name == "." || name == ".." || !name.chars().all(allowed) {
        let given = match &request.name {
            Some(_) => "--name",
            None => "the module's name (give another with --name)",
        };
        anyhow::bail!(
            "{given} {name:?} is not an image name: use letters, digits, '.', '_' and '-' \
             ([A-Za-z0-9._-]+, not . or ..)"
        );
    }
    Ok(name)
}

/// Turns a request and a board into a plan. `toolchain` names the toolchain that builds the
/// kernel (`KERNEL_TOOLCHAIN`; part of the kernel's cache key).
pub fn plan(project: &Project, board: &Board, request: &Request, toolchain: &str) -> BuildPlan {
    let target = project.target();
    let module_name = request.module.name();
    let name = request.name.clone().unwrap_or_else(|| module_name.clone());
    debug_assert!(image_name(request).is_ok(), "plan() takes checked names");

    let log_level = request
        .kernel_log
        .clone()
        .unwrap_or_else(|| board.kernel.log_level.clone());
    let mut rustflags = vec!["-Zmutable-noalias=no".to_string()];
    rustflags.extend(board.kernel.rustflags.iter().cloned());
    let key = cache_key(&[
        KERNEL_VERSION,
        toolchain,
        &board.kernel.target,
        &board.kernel.features.join(","),
        &rustflags.join(" "),
        &log_level,
        "NO_COLOR=1",
    ]);
    let kernel = KernelBuild {
        version: KERNEL_VERSION.to_string(),
        target: board.kernel.target.clone(),
        features: board.kernel.features.clone(),
        rustflags,
        log_level,
        toolchain: toolchain.to_string(),
        out_dir: target.join("hermit-kernel").join(&board.name).join(&key),
        key,
        cargo_target_dir: target.join("hermit-kernel/cargo"),
        builtins_manifest: project.builtins().join("Cargo.toml"),
        builtins_target: board.guest.target.clone(),
    };

    let loader_dir = target.join("loader");
    let loader = LoaderBuild {
        manifest: project.loader().join("Cargo.toml"),
        target: board.loader.target.clone(),
        elf: loader_dir
            .join(&board.loader.target)
            .join("release/hermit-wasm-loader"),
        cargo_target_dir: loader_dir,
    };

    let module = match &request.module {
        ModuleSource::Example(package) => {
            let how = ExampleTarget::of(package);
            ModuleBuild::Crate {
                package: package.clone(),
                // A target folder of its own: `cargo test` holds the lock on `target/`.
                wasm: how.wasm(&target, package),
                how,
            }
        }
        ModuleSource::File(path) => ModuleBuild::File { wasm: path.clone() },
    };

    // The default module says where it runs: the board's architecture is its first argument.
    let mut run = request.grants.clone();
    if matches!(&request.module, ModuleSource::Example(package) if package == DEFAULT_MODULE) {
        run.args.insert(0, board.arch.name().to_string());
    }

    let guest_dir = target.join("guest");
    let guest_elf = guest_dir
        .join(&board.guest.target)
        .join("release/hermit-wasm-kernel");
    let guest = GuestBuild {
        target: board.guest.target.clone(),
        stripped: guest_elf.with_extension("stripped"),
        elf: guest_elf,
        cargo_target_dir: guest_dir,
    };

    let dir = project.images().join(&board.name).join(&name);
    let image = ImageLayout {
        guest: dir.join("guest.elf"),
        loader: dir.join("loader.elf"),
        manifest: dir.join("manifest.json"),
        run_qemu: dir.join("run-qemu.sh"),
        run_uhyve: board.uhyve.as_ref().map(|_| dir.join("run-uhyve.sh")),
        dir,
    };

    BuildPlan {
        board: board.clone(),
        name,
        module_name,
        kernel,
        loader,
        module,
        run,
        links: request.links.clone(),
        guest,
        image,
    }
}

fn cache_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::profile;

    fn project() -> Project {
        Project {
            root: PathBuf::from("/repo"),
        }
    }

    fn board(name: &str) -> Board {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
        profile::find(&dir, name).unwrap()
    }

    fn request(module: &str) -> Request {
        Request {
            module: ModuleSource::from_arg(module),
            name: None,
            kernel_log: None,
            grants: RunConfig::default(),
            links: Vec::new(),
        }
    }

    #[test]
    fn the_default_module_is_an_example_crate_with_the_architecture_baked_in() {
        let plan = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("hello"),
            "nightly-x",
        );
        assert_eq!(plan.name, "hello");
        assert_eq!(plan.run.args, vec!["x86_64".to_string()]);
        assert_eq!(
            plan.module,
            ModuleBuild::Crate {
                package: "hello".into(),
                how: ExampleTarget {
                    target: "wasm32-wasip1",
                    toolchain: None
                },
                wasm: "/repo/target/modules/wasm32-wasip1/release/hello.wasm".into()
            }
        );
        let threads = super::plan(
            &project(),
            &board("x86_64-kvm"),
            &request("threads-sum"),
            "nightly-x",
        );
        assert_eq!(
            threads.module,
            ModuleBuild::Crate {
                package: "threads-sum".into(),
                how: ExampleTarget {
                    target: "wasm32-wasip1-threads",
                    toolchain: Some(THREADS_TOOLCHAIN)
                },
                wasm: "/repo/target/modules/wasm32-wasip1-threads/release/threads-sum.wasm".into()
            }
        );
        assert_eq!(plan.image.dir, Path::new("/repo/images/x86_64-kvm/hello"));
        assert_eq!(
            plan.image.run_uhyve,
            Some("/repo/images/x86_64-kvm/hello/run-uhyve.sh".into())
        );
    }

    #[test]
    fn image_names_are_plain_folder_names() {
        for good in ["app", "my-app_2.0", "A.b"] {
            let mut req = request("hello");
            req.name = Some(good.into());
            assert_eq!(image_name(&req).unwrap(), good);
        }
        for bad in [
            "/tmp/x", "../x", "a/b", "..", ".", "", "a\nb", "a b", "it's", "é",
        ] {
            let mut req = request("hello");
            req.name = Some(bad.into());
            let err = image_name(&req).unwrap_err().to_string();
            assert!(err.contains("[A-Za-z0-9._-]+"), "{bad:?}: {err}");
        }
        let err = image_name(&request("dir/my app.wasm"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("module's name") && err.contains("--name"),
            "{err}"
        );
    }

    #[test]
    fn a_wasm_file_is_taken_as_it_is_and_named_by_the_user() {
        let mut req = request("path/to/app.wasm");
        req.name = Some("app".into());
        let plan = plan(&project(), &board("x86_64-kvm"), &req, "nightly-x");
        assert_eq!(
            plan.module,
            ModuleBuild::File {
                wasm: "path/to/app.wasm".into()
            }
        );
        assert!(plan.run.args.is_empty());
        assert_eq!(plan.image.dir, Path::new("/repo/images/x86_64-kvm/app"));
    }

    #[test]
    fn grants_are_kept_and_the_default_module_still_learns_its_place() {
        let mut req = request("hello");
        req.grants.args = vec!["given".into()];
        req.grants.env = vec![("K".into(), "V".into())];
        req.grants.entrypoint = Some("main".into());
        let plan = plan(&project(), &board("x86_64-kvm"), &req, "nightly-x");
        assert_eq!(
            plan.run.args,
            vec!["x86_64".to_string(), "given".to_string()]
        );
        assert_eq!(plan.run.env, req.grants.env);
        assert_eq!(plan.run.entrypoint.as_deref(), Some("main"));
    }

    #[test]
    fn another_module_reuses_the_kernel_build() {
        let a = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("hello"),
            "nightly-x",
        );
        let b = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("exit-code"),
            "nightly-x",
        );
        assert_eq!(a.kernel, b.kernel);
        assert_eq!(a.guest, b.guest);
        assert_ne!(a.image, b.image);
    }

    #[test]
    fn the_kernel_key_follows_features_log_level_and_toolchain() {
        let base = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("hello"),
            "nightly-x",
        );
        let mut featured = board("x86_64-kvm");
        featured.kernel.features.push("fuse".into());
        let with_fuse = plan(&project(), &featured, &request("hello"), "nightly-x");
        assert_ne!(base.kernel.key, with_fuse.kernel.key);
        assert_ne!(base.kernel.out_dir, with_fuse.kernel.out_dir);

        let mut req = request("hello");
        req.kernel_log = Some("info".into());
        let verbose = plan(&project(), &board("x86_64-kvm"), &req, "nightly-x");
        assert_eq!(verbose.kernel.log_level, "info");
        assert_ne!(base.kernel.key, verbose.kernel.key);

        let other_toolchain = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("hello"),
            "nightly-y",
        );
        assert_ne!(base.kernel.key, other_toolchain.kernel.key);
    }

    #[test]
    fn kernel_rustflags_start_with_the_recipes_noalias_flag() {
        let plan = plan(
            &project(),
            &board("x86_64-kvm"),
            &request("hello"),
            "nightly-x",
        );
        assert_eq!(plan.kernel.rustflags[0], "-Zmutable-noalias=no");
        assert_eq!(plan.kernel.target, "x86_64-unknown-none");
        assert_eq!(plan.kernel.builtins_target, "x86_64-unknown-hermit");
        assert_eq!(
            plan.loader.elf,
            Path::new("/repo/target/loader/x86_64-unknown-none/release/hermit-wasm-loader")
        );
    }

    #[test]
    fn ci_installs_the_threads_toolchain() {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/install-deps"),
        )
        .unwrap();
        assert!(script.contains(&format!(
            "rustup toolchain install {THREADS_TOOLCHAIN} --profile minimal --target wasm32-wasip1-threads"
        )));
    }
}
