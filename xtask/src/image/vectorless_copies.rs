//! Rewrites a module so that Cranelift compiles its bulk copies without vector moves, for a
//! board whose CPU has no vector unit (`riscv64-virt`: RV64GC, no V extension).
//!
//! From Wasmtime 46 on, Cranelift's wasm translator expands a `memory.copy`, `memory.init`,
//! `table.copy` or `table.init` whose length is a constant (an `iconst` when the
//! instruction is translated) of up to 128 bytes into inline loads and stores, 16 bytes at
//! a time as `i8x16`. The riscv64 backend lowers `i8x16` only with the V extension; without
//! it compiling the module fails (wasmtime#13959). No Wasmtime or Cranelift setting turns
//! the expansion off.
//!
//! The rewrite puts `i32.const 0` `i32.or` (`i64` when the length is 64-bit) before each of
//! those four instructions. The length is then the result of an `or` when the copy is
//! translated, never an `iconst`, so a memory copy goes through Wasmtime's `memory_copy`
//! builtin (a table copy through its per-element loop), as in Wasmtime 45; the optimiser
//! folds the `or` with zero away afterwards. What the module computes is unchanged.
//!
//! Invariant: the output is the input byte for byte except for the inserted 3-byte pairs
//! and the code section's and its bodies' sizes in front of them; every other section
//! (names, debug info, custom sections) is copied as it is. So a code offset in a riscv64
//! trap's backtrace lies 3 bytes further per guarded copy before it (and by the size
//! fields' growth, if any) than in the given module. The output is validated again when
//! it is precompiled.

use anyhow::{bail, Result};
use wasmparser::{Operator, Payload, TypeRef};

/// The Cranelift flag whose presence means the board's CPU has the vector unit.
pub const VECTOR_FLAG: &str = "has_v";

/// Whether modules for `target` with `cpu_features` need [`rewrite`].
pub fn needed(target: &str, cpu_features: &[String]) -> bool {
    target.starts_with("riscv64") && !cpu_features.iter().any(|f| f == VECTOR_FLAG)
}

/// `wasm` (a core module) with an `or` with zero in front of every bulk copy's length.
/// Also returns how many instructions were guarded.
pub fn rewrite(wasm: &[u8]) -> Result<(Vec<u8>, usize)> {
    /// `i32.const 0`, `i32.or`; `i64.const 0`, `i64.or`.
    const OR_ZERO_32: [u8; 3] = [0x41, 0x00, 0x72];
    const OR_ZERO_64: [u8; 3] = [0x42, 0x00, 0x84];
    let index_types = IndexTypes::of(wasm)?;
    let mut out = wasm_encoder::Module::new();
    let mut guarded = 0;
    // The code section being rebuilt, and how many bodies it still expects.
    let mut code: Option<(wasm_encoder::CodeSection, u32)> = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version { encoding, .. } => {
                if encoding != wasmparser::Encoding::Module {
                    bail!("only a core module's copies can be guarded");
                }
            }
            Payload::CodeSectionStart { count, .. } => {
                code = Some((wasm_encoder::CodeSection::new(), count));
            }
            Payload::CodeSectionEntry(body) => {
                let Some((section, remaining)) = code.as_mut() else {
                    bail!("a function body outside the code section");
                };
                let range = body.range();
                let mut new_body = Vec::with_capacity(range.len() + 16);
                let mut copied = range.start;
                let mut reader = body.get_operators_reader()?;
                while !reader.eof() {
                    let (op, offset) = reader.read_with_offset()?;
                    if let Some(is_64) = index_types.copy_length_is_64(&op) {
                        new_body.extend_from_slice(&wasm[copied..offset]);
                        new_body.extend_from_slice(if is_64 { &OR_ZERO_64 } else { &OR_ZERO_32 });
                        copied = offset;
                        guarded += 1;
                    }
                }
                new_body.extend_from_slice(&wasm[copied..range.end]);
                section.raw(&new_body);
                *remaining -= 1;
                if *remaining == 0 {
                    if let Some((section, _)) = code.take() {
                        out.section(&section);
                    }
                }
            }
            Payload::End(_) => {}
            other => {
                if let Some((id, range)) = other.as_section() {
                    out.section(&wasm_encoder::RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
            }
        }
    }
    if let Some((section, _)) = code {
        // A code section that declared bodies it does not hold: validation refuses it.
        out.section(&section);
    }
    Ok((out.finish(), guarded))
}

/// `wasm` (a component) with every core module in it rewritten as [`rewrite`] does, in
/// nested components too; every other section is copied as it is and only the sizes of
/// the sections holding a rewritten module change. Also returns how many instructions were
/// guarded in all.
pub fn rewrite_component(wasm: &[u8]) -> Result<(Vec<u8>, usize)> {
    /// Section ids of the component binary format.
    const CORE_MODULE: u8 = 1;
    const COMPONENT: u8 = 4;
    const HEADER: usize = 8;
    if wasm.len() < HEADER || !wasmparser::Parser::is_component(wasm) {
        bail!("not a component");
    }
    let mut out = wasm[..HEADER].to_vec();
    let mut guarded = 0;
    let mut rest = &wasm[HEADER..];
    while !rest.is_empty() {
        let id = rest[0];
        let mut reader = wasmparser::BinaryReader::new(&rest[1..], 0);
        let size = reader.read_var_u32()? as usize;
        let start = 1 + reader.original_position();
        let Some(content) = rest.get(start..start + size) else {
            bail!("a section runs past the end of the component");
        };
        let rewritten = match id {
            CORE_MODULE => Some(rewrite(content)?),
            COMPONENT => Some(rewrite_component(content)?),
            _ => None,
        };
        match rewritten {
            Some((bytes, n)) => {
                guarded += n;
                out.push(id);
                leb128_u32(&mut out, u32::try_from(bytes.len())?);
                out.extend_from_slice(&bytes);
            }
            None => out.extend_from_slice(&rest[..start + size]),
        }
        rest = &rest[start + size..];
    }
    Ok((out, guarded))
}

/// Appends `value` as an unsigned LEB128.
fn leb128_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Whether each memory and each table (imports first, as the index spaces are) is 64-bit.
#[derive(Debug, Default)]
struct IndexTypes {
    memory64: Vec<bool>,
    table64: Vec<bool>,
}

impl IndexTypes {
    fn of(wasm: &[u8]) -> Result<Self> {
        let mut types = IndexTypes::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::ImportSection(section) => {
                    for import in section.into_imports() {
                        match import?.ty {
                            TypeRef::Memory(m) => types.memory64.push(m.memory64),
                            TypeRef::Table(t) => types.table64.push(t.table64),
                            _ => {}
                        }
                    }
                }
                Payload::MemorySection(section) => {
                    for memory in section {
                        types.memory64.push(memory?.memory64);
                    }
                }
                Payload::TableSection(section) => {
                    for table in section {
                        types.table64.push(table?.ty.table64);
                    }
                }
                _ => {}
            }
        }
        Ok(types)
    }

    fn memory64(&self, index: u32) -> bool {
        self.memory64.get(index as usize).copied().unwrap_or(false)
    }

    fn table64(&self, index: u32) -> bool {
        self.table64.get(index as usize).copied().unwrap_or(false)
    }

    /// Whether the length operand of `op` is 64-bit, or `None` when `op` is not a bulk
    /// copy. A copy's length is 64-bit only when both sides are; an `init`'s always 32-bit.
    fn copy_length_is_64(&self, op: &Operator<'_>) -> Option<bool> {
        match *op {
            Operator::MemoryCopy { dst_mem, src_mem } => {
                Some(self.memory64(dst_mem) && self.memory64(src_mem))
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => Some(self.table64(dst_table) && self.table64(src_table)),
            Operator::MemoryInit { .. } | Operator::TableInit { .. } => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module whose one function copies `len` (a constant) bytes within memory 0 and, for
    /// a 32-bit memory, also initialises 3 bytes from a data segment.
    fn module(memory64: bool, len: i64) -> Vec<u8> {
        use wasm_encoder::{
            CodeSection, DataCountSection, DataSection, Function, FunctionSection, Instruction,
            MemorySection, MemoryType, Module, NameMap, NameSection, TypeSection,
        };
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        m.section(&funcs);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: None,
            memory64,
            shared: false,
            page_size_log2: None,
        });
        m.section(&memories);
        if !memory64 {
            m.section(&DataCountSection { count: 1 });
        }
        let mut f = Function::new([]);
        let address = |v: i64| {
            if memory64 {
                Instruction::I64Const(v)
            } else {
                Instruction::I32Const(v as i32)
            }
        };
        f.instruction(&address(0));
        f.instruction(&address(64));
        f.instruction(&address(len));
        f.instruction(&Instruction::MemoryCopy {
            src_mem: 0,
            dst_mem: 0,
        });
        if !memory64 {
            f.instruction(&Instruction::I32Const(0));
            f.instruction(&Instruction::I32Const(0));
            f.instruction(&Instruction::I32Const(3));
            f.instruction(&Instruction::MemoryInit {
                mem: 0,
                data_index: 0,
            });
        }
        f.instruction(&Instruction::End);
        let mut code = CodeSection::new();
        code.function(&f);
        m.section(&code);
        if !memory64 {
            let mut data = DataSection::new();
            data.passive(*b"abc");
            m.section(&data);
        }
        let mut names = NameSection::new();
        let mut functions = NameMap::new();
        functions.append(0, "copy");
        names.functions(&functions);
        m.section(&names);
        m.finish()
    }

    fn operators(wasm: &[u8]) -> Vec<String> {
        let mut ops = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut reader = body.get_operators_reader().unwrap();
                while !reader.eof() {
                    let op = format!("{:?}", reader.read().unwrap());
                    ops.push(op.split([' ', '{']).next().unwrap().to_string());
                }
            }
        }
        ops
    }

    #[test]
    fn guards_each_copy_length_of_a_32_bit_memory() {
        let (out, guarded) = rewrite(&module(false, 72)).unwrap();
        wasmparser::Validator::new().validate_all(&out).unwrap();
        assert_eq!(guarded, 2);
        let ops = operators(&out);
        assert_eq!(
            ops,
            [
                "I32Const",
                "I32Const",
                "I32Const",
                "I32Const",
                "I32Or",
                "MemoryCopy",
                "I32Const",
                "I32Const",
                "I32Const",
                "I32Const",
                "I32Or",
                "MemoryInit",
                "End"
            ]
        );
    }

    #[test]
    fn keeps_every_other_byte_as_it_was() {
        let original = module(false, 72);
        let (out, guarded) = rewrite(&original).unwrap();
        // Two 3-byte pairs; the body's and the section's sizes still fit one byte.
        assert_eq!(out.len(), original.len() + 3 * guarded);
        // Everything after the code section (data, names) is the same bytes.
        let tail = |wasm: &[u8]| {
            let mut end = 0;
            for payload in wasmparser::Parser::new(0).parse_all(wasm) {
                if let Payload::CodeSectionStart { range, .. } = payload.unwrap() {
                    end = range.end;
                }
            }
            wasm[end..].to_vec()
        };
        assert_eq!(tail(&out), tail(&original));
        let (again, _) = rewrite(&module(false, 72)).unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn guards_a_64_bit_memory_copy_with_a_64_bit_or() {
        let (out, guarded) = rewrite(&module(true, 100)).unwrap();
        wasmparser::Validator::new().validate_all(&out).unwrap();
        assert_eq!(guarded, 1);
        assert!(operators(&out).contains(&"I64Or".to_string()));
    }

    /// A component holding `modules`, and a nested component holding `nested`.
    fn component(modules: &[&[u8]], nested: Option<&[u8]>) -> Vec<u8> {
        use wasm_encoder::{Component, ComponentSectionId, RawSection};
        let mut c = Component::new();
        for m in modules {
            c.section(&RawSection {
                id: ComponentSectionId::CoreModule as u8,
                data: m,
            });
        }
        if let Some(inner) = nested {
            c.section(&RawSection {
                id: ComponentSectionId::Component as u8,
                data: inner,
            });
        }
        c.finish()
    }

    #[test]
    fn guards_the_modules_of_a_component_and_of_the_components_in_it() {
        let (a, b) = (module(false, 72), module(true, 16));
        let inner = component(&[&a], None);
        let outer = component(&[&a, &b], Some(&inner));
        wasmparser::Validator::new().validate_all(&outer).unwrap();
        let (out, guarded) = rewrite_component(&outer).unwrap();
        wasmparser::Validator::new().validate_all(&out).unwrap();
        // Two in each 32-bit module, one in the 64-bit one.
        assert_eq!(guarded, 2 + 1 + 2);
        let (a2, b2) = (rewrite(&a).unwrap().0, rewrite(&b).unwrap().0);
        let inner2 = component(&[&a2], None);
        assert_eq!(out, component(&[&a2, &b2], Some(&inner2)));
        assert!(
            rewrite_component(&a).is_err(),
            "a module is not a component"
        );
    }

    #[test]
    fn only_riscv64_without_v_needs_it() {
        assert!(needed("riscv64gc-unknown-hermit", &[]));
        assert!(!needed("riscv64gc-unknown-hermit", &["has_v".to_string()]));
        assert!(!needed("aarch64-unknown-hermit", &[]));
        assert!(!needed("x86_64-unknown-hermit", &[]));
    }

    /// The point of the rewrite: Cranelift compiles a constant-length copy for riscv64
    /// without V only after it.
    #[test]
    fn lets_riscv64_without_v_compile_a_constant_length_copy() {
        let original = module(false, 72);
        let mut config = hermit_wasm_kernel::engine::config();
        config.target("riscv64gc-unknown-linux-gnu").unwrap();
        let engine = wasmtime::Engine::new(&config).unwrap();
        let (out, _) = rewrite(&original).unwrap();
        engine.precompile_module(&out).unwrap();
        let before = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.precompile_module(&original)
        }));
        assert!(
            !matches!(before, Ok(Ok(_))),
            "Cranelift compiled the unrewritten copy for riscv64 without V: the rewrite may \
             no longer be needed (wasmtime#13959)"
        );
    }
}
