//! Turns a `.wasm` file into the module the guest loads: checks that it is WebAssembly and
//! imports only what the guest provides, then precompiles it with Cranelift for the board's
//! Hermit target using the guest's own engine settings (`hermit_wasm_kernel::engine`).

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::{engine, run};
use sha2::{Digest, Sha256};

/// A module ready to embed.
#[derive(Debug)]
pub struct Precompiled {
    pub sha256: String,
    pub wasm_size: u64,
    pub cwasm: Vec<u8>,
}

/// Checks `wasm` (named `name` in messages) and precompiles it for `target`.
pub fn precompile(
    name: &str,
    wasm: &[u8],
    target: &str,
    cpu_features: &[String],
) -> Result<Precompiled> {
    if !wasm.starts_with(b"\0asm") {
        bail!("{name} is not a WebAssembly module (it does not start with \\0asm)");
    }
    let imports =
        imports(wasm).with_context(|| format!("{name} is not a valid WebAssembly module"))?;
    let unsupported =
        run::unsupported_imports(imports.iter().map(|(m, n, f)| (m.as_str(), n.as_str(), *f)));
    if !unsupported.is_empty() {
        bail!(
            "{name} imports what the guest does not provide: {} (only wasi_snapshot_preview1 functions are)",
            unsupported.join(", ")
        );
    }
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
    // A Cranelift bug for one target shows as a panic: make it this module's error.
    let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.precompile_module(wasm)
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
    })
}

/// `(module, name, is_function)` of every import, validating the module on the way.
fn imports(wasm: &[u8]) -> Result<Vec<(String, String, bool)>> {
    wasmparser::Validator::new().validate_all(wasm)?;
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(section) = payload? {
            for import in section {
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

/// Checks that `wasm` exports a function `entry` taking and returning nothing, as an
/// ENTRYPOINT must.
pub fn check_entrypoint(name: &str, wasm: &[u8], entry: &str) -> Result<()> {
    use wasmparser::{CompositeInnerType, ExternalKind, Payload, TypeRef};
    let mut func_types: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut types: Vec<Option<(usize, usize)>> = Vec::new(); // (params, results) of func types
    let mut export = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(section) => {
                for group in section {
                    for ty in group?.into_types() {
                        types.push(match &ty.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                Some((f.params().len(), f.results().len()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(section) => {
                for import in section {
                    if let TypeRef::Func(ty) = import?.ty {
                        func_types.push(ty);
                    }
                }
            }
            Payload::FunctionSection(section) => {
                for ty in section {
                    func_types.push(ty?);
                }
            }
            Payload::ExportSection(section) => {
                for e in section {
                    let e = e?;
                    if e.name == entry {
                        export = Some((e.kind, e.index));
                    }
                }
            }
            _ => {}
        }
    }
    match export {
        None => bail!("{name} exports no `{entry}` (the ENTRYPOINT)"),
        Some((ExternalKind::Func, index)) => {
            let ty = func_types
                .get(index as usize)
                .and_then(|t| types.get(*t as usize))
                .copied()
                .flatten();
            if ty != Some((0, 0)) {
                bail!(
                    "{name}: the ENTRYPOINT `{entry}` must take no parameters and return nothing"
                );
            }
            Ok(())
        }
        Some(_) => bail!("{name}: the ENTRYPOINT `{entry}` is not a function"),
    }
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
            let out = precompile("minimal", MINIMAL, target, &[]).unwrap();
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
        let err = precompile("notes.txt", b"hello", "x86_64-unknown-hermit", &[]).unwrap_err();
        assert!(
            err.to_string().contains("not a WebAssembly module"),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_module_is_refused() {
        let err = precompile("cut", &MINIMAL[..30], "x86_64-unknown-hermit", &[]).unwrap_err();
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
        let err = precompile("m", &module, "x86_64-unknown-hermit", &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("wasi_snapshot_preview1::sock_fake"),
            "{err}"
        );
    }
}
