//! `LINK NAME=PATH.wasm`: core modules preloaded for the one that runs, as `wasmtime run
//! --preload NAME=PATH` does. Checked here, when the image is made: every linked module is
//! a core module, and every import from a linked name is exported by that module, with a
//! type that matches (Wasmtime's rules: a function's type exactly; a memory or table at
//! least as large as the import asks and no larger than its maximum; a global's type
//! exactly). A module may import from the ones linked before it, as the linker sees them
//! in that order. The guest then instantiates them in the same order
//! (`kernel/src/run.rs`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use wasmparser::types::EntityType;
use wasmparser::{FuncType, GlobalType, MemoryType, TableType};

/// A module to link, as the image has it.
pub struct Linked<'a> {
    /// The import module name it is found under.
    pub name: &'a str,
    /// Its file's name, for messages.
    pub file: &'a str,
    pub wasm: &'a [u8],
}

/// An import's or export's type, comparable across modules.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Shape {
    Func(FuncType),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
    Tag(FuncType),
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let func = |f: &mut std::fmt::Formatter<'_>, kind: &str, ty: &FuncType| {
            let list = |types: &[wasmparser::ValType]| {
                types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            write!(
                f,
                "{kind} ({}) -> ({})",
                list(ty.params()),
                list(ty.results())
            )
        };
        let limits = |min: u64, max: Option<u64>| match max {
            Some(max) => format!("{min}..{max}"),
            None => format!("{min}.."),
        };
        match self {
            Shape::Func(ty) => func(f, "function", ty),
            Shape::Tag(ty) => func(f, "tag", ty),
            Shape::Table(ty) => write!(
                f,
                "table of {} ({} elements)",
                ty.element_type,
                limits(ty.initial, ty.maximum)
            ),
            Shape::Memory(ty) => write!(
                f,
                "{}memory ({} pages)",
                if ty.shared { "shared " } else { "" },
                limits(ty.initial, ty.maximum)
            ),
            Shape::Global(ty) => write!(
                f,
                "{}global {}",
                if ty.mutable { "mutable " } else { "" },
                ty.content_type
            ),
        }
    }
}

/// Whether an export of type `export` satisfies an import of type `import`.
fn satisfies(export: &Shape, import: &Shape) -> bool {
    let within = |initial: u64, maximum: Option<u64>, want: u64, want_max: Option<u64>| {
        initial >= want
            && match want_max {
                None => true,
                Some(want_max) => maximum.is_some_and(|max| max <= want_max),
            }
    };
    match (export, import) {
        (Shape::Func(e), Shape::Func(i)) | (Shape::Tag(e), Shape::Tag(i)) => e == i,
        (Shape::Global(e), Shape::Global(i)) => e == i,
        (Shape::Memory(e), Shape::Memory(i)) => {
            e.memory64 == i.memory64
                && e.shared == i.shared
                && e.page_size_log2 == i.page_size_log2
                && within(e.initial, e.maximum, i.initial, i.maximum)
        }
        (Shape::Table(e), Shape::Table(i)) => {
            e.element_type == i.element_type
                && e.table64 == i.table64
                && within(e.initial, e.maximum, i.initial, i.maximum)
        }
        _ => false,
    }
}

/// A module's imports (in order) and exports, with their types.
struct Interface {
    imports: Vec<(String, String, Shape)>,
    exports: BTreeMap<String, Shape>,
}

fn interface(file: &str, wasm: &[u8]) -> Result<Interface> {
    let types = wasmparser::Validator::new()
        .validate_all(wasm)
        .with_context(|| format!("{file} is not a valid WebAssembly module"))?;
    let types = types.as_ref();
    let shape = |ty: EntityType| match ty {
        EntityType::Func(id) | EntityType::FuncExact(id) => {
            Shape::Func(types[id].unwrap_func().clone())
        }
        EntityType::Tag(id) => Shape::Tag(types[id].unwrap_func().clone()),
        EntityType::Table(ty) => Shape::Table(ty),
        EntityType::Memory(ty) => Shape::Memory(ty),
        EntityType::Global(ty) => Shape::Global(ty),
    };
    let imports = types
        .core_imports()
        .with_context(|| format!("{file} is a component, not a core module"))?
        .map(|(module, name, ty)| (module.to_string(), name.to_string(), shape(ty)))
        .collect();
    let exports = types
        .core_exports()
        .with_context(|| format!("{file} is a component, not a core module"))?
        .map(|(name, ty)| (name.to_string(), shape(ty)))
        .collect();
    Ok(Interface { imports, exports })
}

/// Checks that `links`, then the module `main` (named `main_file`), find every import from
/// a linked name among the exports of a module linked before them. Without links there is
/// nothing to check (a component included).
pub fn check(main_file: &str, main: &[u8], links: &[Linked<'_>]) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let mut seen: BTreeMap<&str, (&str, Interface)> = BTreeMap::new();
    let all = links
        .iter()
        .map(|link| (link.file, link.wasm, Some(link.name)))
        .chain(std::iter::once((main_file, main, None)));
    for (file, wasm, name) in all {
        if wasmparser::Parser::is_component(wasm) {
            match name {
                Some(name) => bail!(
                    "LINK {name}: {file} is a component; LINK takes core modules (compose \
                     components before imaging, with `wasm-tools compose` or `wac`)"
                ),
                None => bail!(
                    "{file} is a component, and LINK preloads core modules for a core module \
                     (compose components before imaging, with `wasm-tools compose` or `wac`)"
                ),
            }
        }
        let interface = interface(file, wasm)?;
        for (module, field, wanted) in &interface.imports {
            let later = links
                .iter()
                .any(|link| link.name == module && !seen.contains_key(module.as_str()));
            match seen.get(module.as_str()) {
                Some((provider, exports)) => match exports.exports.get(field) {
                    None => bail!(
                        "{file} imports {module}::{field}, which {provider} (LINK {module}) \
                         does not export"
                    ),
                    Some(given) if !satisfies(given, wanted) => bail!(
                        "{file} imports {module}::{field} as a {wanted}, and {provider} \
                         (LINK {module}) exports a {given}"
                    ),
                    Some(_) => {}
                },
                None if later => bail!(
                    "{file} imports from {module}, which is linked after it: put LINK \
                     {module} first"
                ),
                None => {}
            }
        }
        if let Some(name) = name {
            seen.insert(name, (file, interface));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, EntityType as E, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, Instruction, MemorySection, MemoryType as M, Module, TypeSection, ValType,
    };

    /// A module exporting `add: (i32, i32) -> i32` and a memory of 1..2 pages.
    fn library() -> Vec<u8> {
        let mut types = TypeSection::new();
        types
            .ty()
            .function([ValType::I32, ValType::I32], [ValType::I32]);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        let mut memories = MemorySection::new();
        memories.memory(M {
            minimum: 1,
            maximum: Some(2),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = ExportSection::new();
        exports.export("add", ExportKind::Func, 0);
        exports.export("memory", ExportKind::Memory, 0);
        let mut code = CodeSection::new();
        let mut add = Function::new([]);
        add.instruction(&Instruction::LocalGet(0))
            .instruction(&Instruction::LocalGet(1))
            .instruction(&Instruction::I32Add)
            .instruction(&Instruction::End);
        code.function(&add);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&funcs)
            .section(&memories)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    /// A module importing `(module, name)` as a function of `params` to one i32.
    fn user(module: &str, name: &str, params: &[ValType]) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function(params.iter().copied(), [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import(module, name, E::Function(0));
        let mut m = Module::new();
        m.section(&types).section(&imports);
        m.finish()
    }

    fn linked<'a>(name: &'a str, wasm: &'a [u8]) -> Linked<'a> {
        Linked {
            name,
            file: "calc.wasm",
            wasm,
        }
    }

    #[test]
    fn an_import_the_link_exports_with_its_type_is_satisfied() {
        let lib = library();
        let main = user("calc", "add", &[ValType::I32, ValType::I32]);
        check("main.wasm", &main, &[linked("calc", &lib)]).unwrap();
        // Imports from elsewhere are not this check's (the guest's WASI is checked apart).
        let main = user("wasi_snapshot_preview1", "fd_write", &[ValType::I32]);
        check("main.wasm", &main, &[linked("calc", &lib)]).unwrap();
    }

    #[test]
    fn a_missing_export_or_another_type_is_refused_by_name() {
        let lib = library();
        let main = user("calc", "sub", &[ValType::I32, ValType::I32]);
        let err = check("main.wasm", &main, &[linked("calc", &lib)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "main.wasm imports calc::sub, which calc.wasm (LINK calc) does not export"
        );
        let main = user("calc", "add", &[ValType::I64]);
        let err = check("main.wasm", &main, &[linked("calc", &lib)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "main.wasm imports calc::add as a function (i64) -> (i32), and calc.wasm \
             (LINK calc) exports a function (i32, i32) -> (i32)"
        );
    }

    #[test]
    fn a_link_may_use_the_ones_before_it_only() {
        let lib = library();
        let middle = user("calc", "add", &[ValType::I32, ValType::I32]);
        let main = user("wasi_snapshot_preview1", "fd_write", &[ValType::I32]);
        let in_order = [linked("calc", &lib), linked("middle", &middle)];
        check("main.wasm", &main, &in_order).unwrap();
        let reversed = [linked("middle", &middle), linked("calc", &lib)];
        let err = check("main.wasm", &main, &reversed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linked after it: put LINK calc first"),
            "{err}"
        );
    }

    #[test]
    fn memory_limits_follow_the_subtyping_rule() {
        let memory = |initial, maximum| {
            Shape::Memory(MemoryType {
                memory64: false,
                shared: false,
                initial,
                maximum,
                page_size_log2: None,
            })
        };
        assert!(satisfies(&memory(2, Some(4)), &memory(1, Some(4))));
        assert!(satisfies(&memory(2, None), &memory(1, None)));
        assert!(!satisfies(&memory(1, Some(4)), &memory(2, None)));
        assert!(!satisfies(&memory(2, None), &memory(1, Some(4))));
        assert!(!satisfies(&memory(2, Some(8)), &memory(1, Some(4))));
    }

    #[test]
    fn a_component_is_not_linked() {
        let component = b"\0asm\x0d\0\x01\0";
        check("main.wasm", component, &[]).unwrap();
        let lib = library();
        let err = check("main.wasm", component, &[linked("calc", &lib)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("main.wasm is a component"), "{err}");
        let main = user("calc", "add", &[ValType::I32, ValType::I32]);
        let err = check("main.wasm", &main, &[linked("calc", component)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("LINK calc: calc.wasm is a component"),
            "{err}"
        );
    }
}
