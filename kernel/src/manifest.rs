//! The image manifest: what an image holds and how its module runs. The xtask writes it to
//! `manifest.json` and embeds the same JSON in the guest, which reads its run settings.

use serde::{Deserialize, Serialize};

use crate::limit_spec::Limits;

/// Format version of the manifest.
pub const FORMAT: u32 = 1;

/// Bytes in a WebAssembly page (the unit of the memory sizes recorded here).
pub const WASM_PAGE: u64 = 64 << 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub image: String,
    pub board: String,
    pub arch: String,
    pub module: ModuleInfo,
    pub run: RunConfig,
    pub toolchain: String,
    pub kernel: KernelInfo,
    pub engine: EngineInfo,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInfo {
    pub name: String,
    /// Of the `.wasm` file as given.
    pub sha256: String,
    pub size: u64,
    /// Of the precompiled module embedded in the guest.
    pub precompiled_size: u64,
    /// Present for a wasm32-wasip1-threads module (one imported shared memory, and
    /// `wasi::thread-spawn`).
    #[serde(default)]
    pub threads: Option<ThreadsInfo>,
    /// Present for a component (WASI 0.2, as `wasm32-wasip2` builds), which the guest
    /// runs through the 0.2 front door; absent for a core module.
    #[serde(default)]
    pub component: Option<ComponentInfo>,
    /// The core modules it links (Hermitfile `LINK`, `--preload`), in the order they are
    /// instantiated: each one's exports satisfy imports from the module named `name`, as
    /// `wasmtime run --preload NAME=PATH` does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkInfo>,
}

/// A core module linked to the one that runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// The import module name its exports are found under.
    pub name: String,
    /// Its `.wasm` file's name, as given.
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub precompiled_size: u64,
}

/// What a component needs from the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// The interfaces it imports, full names with versions (`wasi:cli/stdout@0.2.0`),
    /// every one provided by the guest (checked when the image is made).
    pub imports: Vec<String>,
}

/// How a threads module's shared memory and threads are bounded in this image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsInfo {
    /// The shared memory's declared minimum and maximum, in 64 KiB pages.
    pub memory_minimum_pages: u64,
    pub memory_maximum_pages: u64,
    /// Pages the memory may grow to in this image: its maximum, capped by what the board
    /// gives a shared memory (its profile's `shared-memory-max`, which the launch script
    /// sizes the VM's RAM for). A shared memory never moves, so this much address space
    /// is reserved when it is made; pages are committed as it grows.
    pub memory_capacity_pages: u64,
    /// Threads the module may run at once besides its main one; `thread-spawn` fails
    /// (the module sees EAGAIN from `pthread_create`) beyond it. The `threads` limit
    /// replaces it for a run.
    pub max_threads: u32,
}

impl ThreadsInfo {
    /// These bounds under the run's threads limit, which replaces the image's cap on
    /// threads (the memory limit is the budget's, [`ThreadsInfo::memory_budget_pages`]).
    pub fn within(&self, limits: &Limits) -> ThreadsInfo {
        let mut info = self.clone();
        if let Some(threads) = limits.threads {
            info.max_threads = u32::try_from(threads).unwrap_or(u32::MAX);
        }
        info
    }

    /// Pages the memory may grow to in this run: the capacity, lowered by a memory limit
    /// (the launch script sizes the VM's RAM for the lower of the two,
    /// `xtask/templates/launch/limits.sh`).
    pub fn memory_budget_pages(&self, limits: &Limits) -> u64 {
        match limits.memory {
            Some(bytes) => self.memory_capacity_pages.min(bytes / WASM_PAGE),
            None => self.memory_capacity_pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the image records for Rust's threads examples on a board that gives a shared
    /// memory 440 MiB.
    const INFO: ThreadsInfo = ThreadsInfo {
        memory_minimum_pages: 17,
        memory_maximum_pages: 16384,
        memory_capacity_pages: 7040,
        max_threads: 64,
    };

    #[test]
    fn a_memory_limit_lowers_the_shared_memory_budget() {
        let info = INFO;
        let memory = |bytes: u64| Limits {
            memory: Some(bytes),
            ..Limits::default()
        };
        assert_eq!(info.within(&Limits::default()), info);
        assert_eq!(info.memory_budget_pages(&Limits::default()), 7040);
        assert_eq!(info.memory_budget_pages(&memory(32 << 20)), 512);
        // Never past what the board gives.
        assert_eq!(info.memory_budget_pages(&memory(4 << 30)), 7040);
        assert_eq!(info.memory_budget_pages(&memory(100_000)), 1);
        assert_eq!(info.within(&memory(32 << 20)), info);
    }

    #[test]
    fn a_threads_limit_replaces_the_cap_on_threads() {
        let info = INFO;
        let threads = |count: u64| Limits {
            threads: Some(count),
            ..Limits::default()
        };
        assert_eq!(info.within(&threads(2)).max_threads, 2);
        assert_eq!(info.within(&threads(500)).max_threads, 500);
        assert_eq!(info.within(&threads(1 << 40)).max_threads, u32::MAX);
        assert_eq!(info.within(&threads(2)).memory_capacity_pages, 7040);
    }
}

/// How the guest runs the module: everything it may touch is granted here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Arguments baked into the image, before those given at launch (argv[0] excluded).
    pub args: Vec<String>,
    /// Environment variables, in order.
    pub env: Vec<(String, String)>,
    /// PWD = the host's current directory at launch.
    #[serde(default)]
    pub env_pwd_is_host_cwd: bool,
    /// EXE_NAME = the launch script's path.
    #[serde(default)]
    pub env_exe_name_is_host_exe_name: bool,
    /// Host directories preopened for the module.
    #[serde(default)]
    pub maps: Vec<Map>,
    /// The export to call; `_start` when absent.
    pub entrypoint: Option<String>,
    /// What the module may consume (`LIMIT`); launch options replace them one by one.
    #[serde(default)]
    pub limits: Limits,
}

/// A host directory made visible to the module at `guest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Map {
    pub host: String,
    pub guest: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    pub version: String,
    pub target: String,
    pub features: Vec<String>,
    pub log_level: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub wasmtime: String,
    /// The target the module was precompiled for.
    pub target: String,
    /// Cranelift ISA flags the precompiled code relies on.
    pub cpu_features: Vec<String>,
    pub settings: Vec<(String, String)>,
}

impl Manifest {
    pub fn from_json(json: &[u8]) -> anyhow::Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(json)?;
        if manifest.format != FORMAT {
            anyhow::bail!(
                "manifest format {} (this guest reads {FORMAT})",
                manifest.format
            );
        }
        Ok(manifest)
    }
}
