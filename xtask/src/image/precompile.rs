//! Turns a `.wasm` file into the module the guest loads: checks that it is WebAssembly and
//! imports only what the guest provides, then precompiles it with Cranelift for the board's
//! Hermit target using the guest's own engine settings (`hermit_wasm_kernel::engine`).

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::{ComponentInfo, ThreadsInfo, WASM_PAGE};
use hermit_wasm_kernel::{engine, run};

use super::{component, vectorless_copies};
use sha2::{Digest, Sha256};

/// A module ready to embed.
#[derive(Debug)]
pub struct Precompiled {
    pub sha256: String,
    pub wasm_size: u64,
    pub cwasm: Vec<u8>,
    /// Set for a wasm32-wasip1-threads module.
    pub threads: Option<SharedMemoryShape>,
    /// Set for a component (precompiled as one).
    pub component: Option<ComponentInfo>,
}

/// Checks `wasm` (named `name` in messages) and precompiles it for `target`. Imports from
/// the module names in `linked` are left to the modules linked under them (checked by
/// `link.rs`).
pub fn precompile(
    name: &str,
    wasm: &[u8],
    target: &str,
    cpu_features: &[String],
    linked: &[&str],
) -> Result<Precompiled> {
    if !wasm.starts_with(b"\0asm") {
        bail!("{name} is not a WebAssembly module (it does not start with \\0asm)");
    }
    let component = if wasmparser::Parser::is_component(wasm) {
        Some(component::check(name, wasm)?)
    } else {
        None
    };
    let threads = match component {
        Some(_) => None,
        None => check_module(name, wasm, linked)?,
    };
    let mut config = engine::config();
    config
        .target(target)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("Cranelift cannot target {target}"))?;
    for feature in cpu_features {
        // SAFETY: the flag names come from the board profile; Wasmtime checks at load time
        // that the guest's CPU has them.
        unsafe { config.cranelift_flag_enable(feature) };
    }
    let engine = wasmtime::Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the precompiling engine")?;
    // A board without a vector unit gets the module with its bulk copies kept off vector
    // moves (see `vectorless_copies`); the manifest still names the module as given.
    let rewritten;
    let to_compile = if vectorless_copies::needed(target, cpu_features) {
        let guarded;
        (rewritten, guarded) = if component.is_some() {
            vectorless_copies::rewrite_component(wasm)
        } else {
            vectorless_copies::rewrite(wasm)
        }
        .with_context(|| format!("preparing {name} for {target}"))?;
        eprintln!(
            "  {guarded} bulk copies of {name} kept off vector moves (the board's CPU has no \
             vector unit)"
        );
        &rewritten[..]
    } else {
        wasm
    };
    // A Cranelift bug for one target shows as a panic: make it this module's error.
    let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if component.is_some() {
            engine.precompile_component(to_compile)
        } else {
            engine.precompile_module(to_compile)
        }
    }))
    .map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        anyhow::anyhow!(
            "Cranelift panicked compiling {name} for {target} ({what}): a compiler bug for \
             this target, not a problem of the module"
        )
    })?;
    let cwasm = compiled
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {name} for {target}"))?;
    Ok(Precompiled {
        sha256: sha256_hex(wasm),
        wasm_size: wasm.len() as u64,
        cwasm,
        threads,
        component,
    })
}

/// Checks core module `wasm`: valid, importing only what the guest provides or the
/// modules `linked` under those names. Gives the shape of its shared memory when it is a
/// threads module.
fn check_module(name: &str, wasm: &[u8], linked: &[&str]) -> Result<Option<SharedMemoryShape>> {
    let imports =
        imports(wasm).with_context(|| format!("{name} is not a valid WebAssembly module"))?;
    let threads = threads_shape(name, wasm)?;
    let unsupported = run::unsupported_imports(
        imports
            .iter()
            .filter(|(m, _, _)| !linked.contains(&m.as_str()))
            .map(|(m, n, f)| (m.as_str(), n.as_str(), *f)),
        threads
            .as_ref()
            .map(|t| (t.import.0.as_str(), t.import.1.as_str())),
    );
    if !unsupported.is_empty() {
        bail!(
            "{name} imports what the guest does not provide: {} (only wasi_snapshot_preview1 \
             functions are, and for a wasm32-wasip1-threads module its shared memory and \
             wasi::thread-spawn)",
            unsupported.join(", ")
        );
    }
    Ok(threads)
}

/// `(module, name, is_function)` of every import, validating the module on the way.
fn imports(wasm: &[u8]) -> Result<Vec<(String, String, bool)>> {
    wasmparser::Validator::new().validate_all(wasm)?;
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(section) = payload? {
            for import in section.into_imports() {
                let import = import?;
                let is_function = matches!(import.ty, wasmparser::TypeRef::Func(_));
                imports.push((
                    import.module.to_string(),
                    import.name.to_string(),
                    is_function,
                ));
            }
        }
    }
    Ok(imports)
}

/// What a module declares that decides how it is run: its function types, imports,
/// exports and memories.
#[derive(Default)]
struct Shape {
    /// Parameters and results of each type (`None`: not a function type).
    types: Vec<Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)>>,
    /// Type index of every function, imported ones first.
    func_types: Vec<u32>,
    /// `(kind, index)` of each export by name.
    exports: std::collections::BTreeMap<String, (wasmparser::ExternalKind, u32)>,
    /// Imported memories: `(module, name, type)`.
    memory_imports: Vec<(String, String, wasmparser::MemoryType)>,
    /// Memories the module defines itself.
    memories_defined: usize,
    /// Whether it imports `wasi::thread-spawn`.
    imports_thread_spawn: bool,
}

impl Shape {
    fn of(wasm: &[u8]) -> Result<Shape> {
        use wasmparser::{CompositeInnerType, Payload, TypeRef};
        let mut shape = Shape::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::TypeSection(section) => {
                    for group in section {
                        for ty in group?.into_types() {
                            shape.types.push(match &ty.composite_type.inner {
                                CompositeInnerType::Func(f) => {
                                    Some((f.params().to_vec(), f.results().to_vec()))
                                }
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        let import = import?;
                        match import.ty {
                            TypeRef::Func(ty) => {
                                shape.func_types.push(ty);
                                if (import.module, import.name) == run::THREAD_SPAWN {
                                    shape.imports_thread_spawn = true;
                                }
                            }
                            TypeRef::Memory(ty) => shape.memory_imports.push((
                                import.module.to_string(),
                                import.name.to_string(),
                                ty,
                            )),
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(section) => {
                    for ty in section {
                        shape.func_types.push(ty?);
                    }
                }
                Payload::MemorySection(section) => {
                    shape.memories_defined += section.count() as usize
                }
                Payload::ExportSection(section) => {
                    for e in section {
                        let e = e?;
                        shape.exports.insert(e.name.to_string(), (e.kind, e.index));
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// The type of the exported function `name`: `None` if nothing is exported under that
    /// name, `Some(Err(()))` if the export is not a function.
    #[allow(clippy::type_complexity)]
    fn exported_func(
        &self,
        name: &str,
    ) -> Option<Result<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>), ()>> {
        let &(kind, index) = self.exports.get(name)?;
        if kind != wasmparser::ExternalKind::Func {
            return Some(Err(()));
        }
        self.func_types
            .get(index as usize)
            .and_then(|t| self.types.get(*t as usize))
            .cloned()
            .flatten()
            .map(Ok)
    }
}

/// Checks that `wasm` exports a function `entry` taking and returning nothing, as an
/// ENTRYPOINT must.
pub fn check_entrypoint(name: &str, wasm: &[u8], entry: &str) -> Result<()> {
    match Shape::of(wasm)?.exported_func(entry) {
        None => bail!("{name} exports no `{entry}` (the ENTRYPOINT)"),
        Some(Ok((params, results))) if params.is_empty() && results.is_empty() => Ok(()),
        Some(Ok(_)) => {
            bail!("{name}: the ENTRYPOINT `{entry}` must take no parameters and return nothing")
        }
        Some(Err(())) => bail!("{name}: the ENTRYPOINT `{entry}` is not a function"),
    }
}

/// A threads module's shared memory, as it declares it (64 KiB pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMemoryShape {
    /// The import's module and name.
    pub import: (String, String),
    pub minimum_pages: u64,
    pub maximum_pages: u64,
}

/// Whether `wasm` is a wasm32-wasip1-threads module: it imports one shared memory (and
/// then may import `wasi::thread-spawn`, and must export `wasi_thread_start` if it does).
/// Anything else about memories and threads that we cannot run is refused with the reason.
pub fn threads_shape(name: &str, wasm: &[u8]) -> Result<Option<SharedMemoryShape>> {
    let shape = Shape::of(wasm)?;
    let memories = shape.memory_imports.len() + shape.memories_defined;
    let shared: Vec<_> = shape.memory_imports.iter().filter(|m| m.2.shared).collect();
    if let Some((module, import, _)) = shape.memory_imports.iter().find(|m| !m.2.shared) {
        bail!(
            "{name} imports an unshared memory ({module}::{import}); only a \
             wasm32-wasip1-threads module's one shared memory can be imported"
        );
    }
    if shared.is_empty() {
        if shape.imports_thread_spawn {
            bail!(
                "{name} imports wasi::thread-spawn but no shared memory: threads would share \
                 nothing (build it for wasm32-wasip1-threads)"
            );
        }
        return Ok(None);
    }
    if memories > 1 {
        bail!(
            "{name} has {memories} memories: a threads module must have exactly one, the \
             shared memory it imports"
        );
    }
    let (module, import, ty) = shared[0];
    if ty.memory64 {
        bail!("{name}: its shared memory {module}::{import} is 64-bit, which is not supported");
    }
    let maximum_pages = ty
        .maximum
        .with_context(|| format!("{name}: its shared memory {module}::{import} has no maximum"))?;
    if shape.imports_thread_spawn {
        use wasmparser::ValType::I32;
        match shape.exported_func(run::THREAD_START) {
            Some(Ok((params, results))) if params == [I32, I32] && results.is_empty() => {}
            None => bail!(
                "{name} imports wasi::thread-spawn but exports no `{}`, where new threads \
                 start",
                run::THREAD_START
            ),
            Some(_) => bail!(
                "{name}: its export `{}` must be a function (i32, i32) -> ()",
                run::THREAD_START
            ),
        }
    }
    Ok(Some(SharedMemoryShape {
        import: (module.clone(), import.clone()),
        minimum_pages: ty.initial,
        maximum_pages,
    }))
}

/// Largest number of threads a module may run at once besides its main thread.
pub const MAX_THREADS: u32 = 64;

/// How a threads module runs in a guest with `budget_bytes` for its shared memory: the
/// memory may grow to its maximum or the budget, whichever is lower. A module whose
/// minimum does not fit is refused with the numbers.
pub fn threads_info(
    name: &str,
    shape: &SharedMemoryShape,
    budget_bytes: u64,
) -> Result<ThreadsInfo> {
    let budget_pages = budget_bytes / WASM_PAGE;
    if shape.minimum_pages > budget_pages {
        bail!(
            "{name}'s shared memory starts at {} pages ({} MiB), more than the {budget_pages} \
             pages ({} MiB) this board gives a shared memory (its profile's shared-memory-max)",
            shape.minimum_pages,
            (shape.minimum_pages * WASM_PAGE) >> 20,
            budget_bytes >> 20
        );
    }
    Ok(ThreadsInfo {
        memory_minimum_pages: shape.minimum_pages,
        memory_maximum_pages: shape.maximum_pages,
        memory_capacity_pages: shape.maximum_pages.min(budget_pages),
        max_threads: MAX_THREADS,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (func (export "_start")))`
    const MINIMAL: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
        0x01, 0x08, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00,
        0x00, // types: (i32)->(), ()->()
        0x02, 0x24, 0x01, 0x16, b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h',
        b'o', b't', b'_', b'p', b'r', b'e', b'v', b'i', b'e', b'w', b'1', 0x09, b'p', b'r', b'o',
        b'c', b'_', b'e', b'x', b'i', b't', 0x00, 0x00, // import func type 0
        0x03, 0x02, 0x01, 0x01, // one function of type 1
        0x07, 0x0a, 0x01, 0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x01, // export
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
    ];

    #[test]
    fn a_minimal_wasi_module_precompiles_for_each_architecture() {
        for target in [
            "x86_64-unknown-hermit",
            "aarch64-unknown-hermit",
            "riscv64gc-unknown-hermit",
        ] {
            let out = precompile("minimal", MINIMAL, target, &[], &[]).unwrap();
            assert_eq!(out.wasm_size, MINIMAL.len() as u64);
            assert!(
                out.cwasm.starts_with(b"\x7fELF"),
                "{target}: precompiled modules are ELF"
            );
        }
    }

    #[test]
    fn an_entrypoint_must_be_an_exported_nullary_function() {
        check_entrypoint("minimal", MINIMAL, "_start").unwrap();
        let err = check_entrypoint("minimal", MINIMAL, "main").unwrap_err();
        assert!(err.to_string().contains("exports no `main`"), "{err}");
    }

    #[test]
    fn not_wasm_is_refused() {
        let err = precompile("notes.txt", b"hello", "x86_64-unknown-hermit", &[], &[]).unwrap_err();
        assert!(
            err.to_string().contains("not a WebAssembly module"),
            "{err}"
        );
    }

    #[test]
    fn a_component_is_told_apart_by_its_header_and_checked_as_one() {
        // The smallest component: the magic and the component version/layer (0x0d, 1). As
        // a component it is valid, and refused for what it lacks: a command's export.
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        let err =
            precompile("app.wasm", &component, "x86_64-unknown-hermit", &[], &[]).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("app.wasm exports no wasi:cli/run (it is not a WASI command"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn a_truncated_module_is_refused() {
        let err = precompile("cut", &MINIMAL[..30], "x86_64-unknown-hermit", &[], &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a valid WebAssembly module"),
            "{err:#}"
        );
    }

    #[test]
    fn a_foreign_import_is_named() {
        let mut module = MINIMAL.to_vec();
        let at = module.windows(9).position(|w| w == b"proc_exit").unwrap();
        module[at..at + 9].copy_from_slice(b"sock_fake");
        let err = precompile("m", &module, "x86_64-unknown-hermit", &[], &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("wasi_snapshot_preview1::sock_fake"),
            "{err}"
        );
    }

    /// A module in the shape of wasm32-wasip1-threads output: `env.memory` imported
    /// (`shared`, `max` pages), `wasi::thread-spawn` if `spawn`, `wasi_thread_start`
    /// exported with `start_params` if given, and `extra_memory` memories of its own.
    fn threads_module(
        shared: bool,
        max: Option<u64>,
        spawn: bool,
        start_params: Option<&[wasm_encoder::ValType]>,
        extra_memory: bool,
    ) -> Vec<u8> {
        use wasm_encoder::{
            CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
            ImportSection, Instruction, MemorySection, MemoryType, Module, TypeSection, ValType,
        };
        let mut types = TypeSection::new();
        types.ty().function([], []); // 0: _start
        types.ty().function([ValType::I32], [ValType::I32]); // 1: thread-spawn
        types
            .ty()
            .function(start_params.unwrap_or(&[]).iter().copied(), []); // 2: thread start
        let mut imports = ImportSection::new();
        let memory = MemoryType {
            minimum: 17,
            maximum: max,
            memory64: false,
            shared,
            page_size_log2: None,
        };
        imports.import("env", "memory", EntityType::Memory(memory));
        let mut functions = 0;
        if spawn {
            imports.import("wasi", "thread-spawn", EntityType::Function(1));
            functions += 1;
        }
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        let mut exports = ExportSection::new();
        funcs.function(0);
        let mut body = Function::new([]);
        body.instruction(&Instruction::End);
        code.function(&body);
        exports.export("_start", ExportKind::Func, functions);
        if start_params.is_some() {
            funcs.function(2);
            code.function(&body);
            exports.export(run::THREAD_START, ExportKind::Func, functions + 1);
        }
        let mut module = Module::new();
        module.section(&types).section(&imports).section(&funcs);
        if extra_memory {
            let mut memories = MemorySection::new();
            memories.memory(MemoryType {
                minimum: 1,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
            module.section(&memories);
        }
        module.section(&exports).section(&code);
        module.finish()
    }

    const START: &[wasm_encoder::ValType] =
        &[wasm_encoder::ValType::I32, wasm_encoder::ValType::I32];

    #[test]
    fn a_threads_module_is_recognised_and_precompiled() {
        let wasm = threads_module(true, Some(16384), true, Some(START), false);
        let shape = threads_shape("t", &wasm)
            .unwrap()
            .expect("a threads module");
        assert_eq!(
            shape,
            SharedMemoryShape {
                import: ("env".into(), "memory".into()),
                minimum_pages: 17,
                maximum_pages: 16384
            }
        );
        let out = precompile("t", &wasm, "x86_64-unknown-hermit", &[], &[]).unwrap();
        assert_eq!(out.threads, Some(shape.clone()));
        // A board that gives a shared memory 440 MiB: 7040 pages; one that gives 2 GiB:
        // the module's maximum.
        let info = threads_info("t", &shape, 440 << 20).unwrap();
        assert_eq!(
            (info.memory_capacity_pages, info.max_threads),
            (7040, MAX_THREADS)
        );
        let info = threads_info("t", &shape, 2 << 30).unwrap();
        assert_eq!(info.memory_capacity_pages, 16384);
        let err = threads_info("t", &shape, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("starts at 17 pages"), "{err}");
        // Without thread-spawn a module may still share its memory (atomics alone).
        let wasm = threads_module(true, Some(100), false, None, false);
        assert!(threads_shape("t", &wasm).unwrap().is_some());
        // A plain module is not a threads module.
        assert_eq!(threads_shape("m", MINIMAL).unwrap(), None);
    }

    #[test]
    fn what_a_threads_module_cannot_be_is_refused_with_the_reason() {
        let refused = |wasm: Vec<u8>, needle: &str| {
            let err = precompile("t", &wasm, "x86_64-unknown-hermit", &[], &[]).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        };
        refused(
            threads_module(true, Some(100), true, None, false),
            "exports no `wasi_thread_start`",
        );
        refused(
            threads_module(
                true,
                Some(100),
                true,
                Some(&[wasm_encoder::ValType::I32]),
                false,
            ),
            "must be a function (i32, i32) -> ()",
        );
        refused(
            threads_module(false, Some(100), false, None, false),
            "imports an unshared memory (env::memory)",
        );
        refused(
            threads_module(true, Some(100), true, Some(START), true),
            "has 2 memories",
        );
    }
}
