//! A wasm32-wasip1 command made a WASI 0.2 component, as `wasm-tools component new
//! app.wasm --adapt wasi_snapshot_preview1.command.wasm` makes it: the module's preview1
//! imports are served by the official adapter (crates.io
//! `wasi-preview1-component-adapter-provider`, of the reference CLI's release), which
//! imports the 0.2 interfaces in turn. The corpus runs its real programs this way too, so
//! that the guest's 0.2 front door is compared on programs no one here wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
};

/// The component of the wasip1 command `wasm`.
pub fn componentize(wasm: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)
        .context("reading the module")?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .context("taking the preview1 adapter")?
        .encode()
        .context("encoding the component")
}

/// The component of the wasip1 command at `module`, written beside it as
/// `NAME.component.wasm` unless it is there already and newer.
pub fn component_beside(module: &Path) -> Result<PathBuf> {
    let out = module.with_extension("component.wasm");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    if let (Ok(made), Ok(source)) = (modified(&out), modified(module)) {
        if made >= source {
            return Ok(out);
        }
    }
    let wasm = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    eprintln!(
        "wrapping {} in the preview1 adapter (a WASI 0.2 component)",
        module.display()
    );
    let component =
        componentize(&wasm).with_context(|| format!("adapting {}", module.display()))?;
    // Written whole under a name of this writer's first: a reader never sees half a
    // component, and two writers never mix theirs.
    static WRITES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let partial = out.with_extension(format!(
        "partial-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&partial, component)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
        FunctionSection, ImportSection, Instruction, MemArg, MemorySection, MemoryType, Module,
        TypeSection, ValType,
    };

    /// A wasip1 command writing "hi\n" to stdout with `fd_write`.
    fn hello() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32; 4], [ValType::I32]);
        types.ty().function([], []);
        let mut imports = ImportSection::new();
        imports.import(
            "wasi_snapshot_preview1",
            "fd_write",
            EntityType::Function(0),
        );
        let mut funcs = FunctionSection::new();
        funcs.function(1);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        exports.export("_start", ExportKind::Func, 1);
        let store = |at: i32, value: i32, f: &mut Function| {
            f.instruction(&Instruction::I32Const(at))
                .instruction(&Instruction::I32Const(value))
                .instruction(&Instruction::I32Store(MemArg {
                    offset: 0,
                    align: 2,
                    memory_index: 0,
                }));
        };
        let mut start = Function::new([]);
        store(0, 16, &mut start);
        store(4, 3, &mut start);
        for arg in [1, 0, 1, 8] {
            start.instruction(&Instruction::I32Const(arg));
        }
        start
            .instruction(&Instruction::Call(0))
            .instruction(&Instruction::Drop)
            .instruction(&Instruction::End);
        let mut code = CodeSection::new();
        code.function(&start);
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::i32_const(16), b"hi\n".iter().copied());
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&funcs)
            .section(&memories)
            .section(&exports)
            .section(&code)
            .section(&data);
        module.finish()
    }

    #[test]
    fn a_command_becomes_a_component_the_image_takes() {
        let component = componentize(&hello()).unwrap();
        assert!(wasmparser::Parser::is_component(&component));
        let info = crate::image::component::check("hello.component.wasm", &component).unwrap();
        assert!(
            info.imports
                .iter()
                .any(|name| name.starts_with("wasi:cli/stdout@0.2.")),
            "{:?}",
            info.imports
        );
    }
}
