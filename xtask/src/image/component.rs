//! What the image checks of a component (WASI 0.2) before it precompiles it: that it is
//! valid, that it is a command (it exports `wasi:cli/run`), that it needs no threads, and
//! that every interface it imports is one the guest provides at a version it can link
//! (`hermit_wasm_kernel::wasi::p2::INTERFACES`, 0.2.0 up to the WIT the guest was built
//! from). The imports, with their versions, go into the manifest.

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::manifest::ComponentInfo;
use hermit_wasm_kernel::wasi::p2;
use wasmparser::{Parser, Payload};

/// What a component declares at its top level, and whether any core module in it has a
/// shared memory.
#[derive(Debug, Default)]
struct Declared {
    imports: Vec<String>,
    exports: Vec<String>,
    shared_memory: bool,
}

fn declared(wasm: &[u8]) -> Result<Declared> {
    wasmparser::Validator::new().validate_all(wasm)?;
    let mut declared = Declared::default();
    // Nesting: 1 is the component itself, deeper are the modules and components in it.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    declared.imports.push(import?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    declared.exports.push(export?.name.name.to_string());
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    declared.shared_memory |= memory?.shared;
                }
            }
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    if let wasmparser::TypeRef::Memory(memory) = import?.ty {
                        declared.shared_memory |= memory.shared;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(declared)
}

/// `wasi:cli/stdout@0.2.3` → (`wasi:cli/stdout`, `0.2.3`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

/// Whether a component importing `version` links against the guest's definitions (WASI
/// `p2::WIT_VERSION`): the same major and minor, a patch no newer (semver-compatible, as
/// Wasmtime's component linker matches 0.2.x).
fn version_links(version: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        let triple = (parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(triple)
    };
    match (parse(version), parse(p2::WIT_VERSION)) {
        (Some((0, minor, patch)), Some((0, have_minor, have_patch))) => {
            minor == have_minor && patch <= have_patch
        }
        _ => false,
    }
}

/// Checks component `wasm` (named `name` in messages) and says what the manifest records.
pub fn check(name: &str, wasm: &[u8]) -> Result<ComponentInfo> {
    let declared =
        declared(wasm).with_context(|| format!("{name} is not a valid WebAssembly component"))?;
    if declared.shared_memory {
        bail!(
            "{name} is a component that needs threads (a shared memory), which the guest \
             runs for core modules only (wasm32-wasip1-threads)"
        );
    }
    let run = declared
        .exports
        .iter()
        .any(|export| split_version(export).0 == p2::RUN_INTERFACE);
    if !run {
        bail!(
            "{name} exports no {} (it is not a WASI command, and the guest runs commands \
             only); it exports: {}",
            p2::RUN_INTERFACE,
            if declared.exports.is_empty() {
                "nothing".to_string()
            } else {
                declared.exports.join(", ")
            }
        );
    }
    let missing: Vec<&str> = declared
        .imports
        .iter()
        .map(String::as_str)
        .filter(|import| {
            let (interface, version) = split_version(import);
            !(p2::INTERFACES.contains(&interface) && version.is_some_and(version_links))
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "{name} imports what the guest does not provide: {} (it provides wasi:cli, \
             wasi:io, wasi:clocks, wasi:filesystem and wasi:random, 0.2.0 to {})",
            missing.join(", "),
            p2::WIT_VERSION
        );
    }
    Ok(ComponentInfo {
        imports: declared.imports,
    })
}

/// A component that imports `imports` (instances with nothing in them) and exports an
/// instance as `wasi:cli/run@0.2.0`: shaped like a command as far as [`check`] looks (the
/// end-to-end tests' bad components start from it).
pub fn command_shaped(imports: &[&str]) -> Vec<u8> {
    shaped(imports, true)
}

/// A component importing `imports`, exporting the run interface when `run`.
fn shaped(imports: &[&str], run: bool) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentExportKind, ComponentExportSection, ComponentImportSection,
        ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut c = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    c.section(&types);
    let mut section = ComponentImportSection::new();
    for import in imports {
        section.import(*import, ComponentTypeRef::Instance(0));
    }
    c.section(&section);
    if run {
        let mut exports = ComponentExportSection::new();
        exports.export("wasi:cli/run@0.2.0", ComponentExportKind::Instance, 0, None);
        c.section(&exports);
    }
    c.finish()
}

/// Checks that `call`, a component's ENTRYPOINT, reads as what `wasmtime run --invoke`
/// takes for a component: a function call in WAVE, `name(arguments)`. Whether the
/// component exports that function with those parameter types the guest finds out as
/// Wasmtime does, when it runs.
pub fn check_invoke(name: &str, call: &str) -> Result<()> {
    use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
    match UntypedFuncCall::parse(call) {
        Ok(_) => Ok(()),
        Err(err) => bail!(
            "{name} is a component, whose ENTRYPOINT is a call as `wasmtime run --invoke` \
             takes it (`name(arguments)` in WAVE, e.g. `run()`); `{call}` is not one ({err})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(imports: &[&str], run: bool) -> Vec<u8> {
        shaped(imports, run)
    }

    #[test]
    fn an_entrypoint_of_a_component_is_a_wave_call() {
        check_invoke("app.wasm", "run()").unwrap();
        check_invoke("app.wasm", r#"greet("you", 2)"#).unwrap();
        let err = check_invoke("app.wasm", "run").unwrap_err().to_string();
        assert!(err.contains("`run` is not one"), "{err}");
    }

    #[test]
    fn versions_link_up_to_the_guests_patch() {
        assert!(version_links("0.2.0"));
        assert!(version_links("0.2.6"));
        assert!(version_links(p2::WIT_VERSION));
        assert!(!version_links("0.2.99"));
        assert!(!version_links("0.3.0"));
        assert!(!version_links("1.0.0"));
        assert!(!version_links("0.2.0-rc-2023-11-10"));
    }

    #[test]
    fn a_command_importing_what_the_guest_provides_is_taken() {
        let wasm = component(&["wasi:cli/stdout@0.2.0", "wasi:io/streams@0.2.6"], true);
        let info = check("app.wasm", &wasm).unwrap();
        assert_eq!(
            info.imports,
            ["wasi:cli/stdout@0.2.0", "wasi:io/streams@0.2.6"]
        );
    }

    #[test]
    fn an_import_the_guest_lacks_is_named_in_full() {
        let wasm = component(
            &[
                "wasi:cli/stdout@0.2.0",
                "wasi:sockets/tcp@0.2.0",
                "wasi:cli/exit@0.3.0",
            ],
            true,
        );
        let err = check("app.wasm", &wasm).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "app.wasm imports what the guest does not provide: wasi:sockets/tcp@0.2.0, \
                 wasi:cli/exit@0.3.0 ("
            ),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn a_component_that_is_not_a_command_is_refused() {
        let err = check("lib.wasm", &component(&["wasi:cli/stdout@0.2.0"], false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exports no wasi:cli/run"), "{err}");
        assert!(err.ends_with("it exports: nothing"), "{err}");
    }

    #[test]
    fn a_truncated_component_is_invalid() {
        let wasm = component(&["wasi:cli/stdout@0.2.0"], true);
        let err = check("cut.wasm", &wasm[..wasm.len() - 3]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cut.wasm is not a valid WebAssembly component"
        );
    }
}
