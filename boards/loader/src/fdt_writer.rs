//! A writer for flattened device trees (DTSpec v0.4, chapter 5: format version 17).
//!
//! The loader describes the machine to the kernel in a device tree it builds itself. Nodes are
//! written depth-first: [`FdtWriter::begin_node`], properties, child nodes,
//! [`FdtWriter::end_node`]; [`FdtWriter::finish`] returns the blob.

use alloc::vec::Vec;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_VERSION: u32 = 17;
const FDT_LAST_COMPATIBLE_VERSION: u32 = 16;
const HEADER_SIZE: usize = 40;

const FDT_BEGIN_NODE: u32 = 0x1;
const FDT_END_NODE: u32 = 0x2;
const FDT_PROP: u32 = 0x3;
const FDT_END: u32 = 0x9;

/// Builds a flattened device tree in memory.
pub struct FdtWriter {
    structure: Vec<u8>,
    strings: Vec<u8>,
    depth: usize,
}

impl FdtWriter {
    pub fn new() -> Self {
        Self {
            structure: Vec::new(),
            strings: Vec::new(),
            depth: 0,
        }
    }

    /// Opens a node; the root node's name is empty.
    pub fn begin_node(&mut self, name: &str) {
        assert!(
            (self.depth == 0) == name.is_empty(),
            "only the root node has an empty name (node {name:?})"
        );
        self.push_u32(FDT_BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad_structure();
        self.depth += 1;
    }

    /// Closes the innermost open node.
    pub fn end_node(&mut self) {
        assert!(self.depth > 0, "end_node without an open node");
        self.push_u32(FDT_END_NODE);
        self.depth -= 1;
    }

    /// Adds a property with a raw value to the innermost open node.
    pub fn property(&mut self, name: &str, value: &[u8]) {
        assert!(self.depth > 0, "property {name:?} outside of a node");
        let name_offset = self.string_offset(name);
        self.push_u32(FDT_PROP);
        self.push_u32(u32::try_from(value.len()).unwrap());
        self.push_u32(name_offset);
        self.structure.extend_from_slice(value);
        self.pad_structure();
    }

    /// Adds a property holding one 32-bit cell.
    pub fn property_u32(&mut self, name: &str, value: u32) {
        self.property(name, &value.to_be_bytes());
    }

    /// Adds a property holding a NUL-terminated string.
    pub fn property_string(&mut self, name: &str, value: &str) {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.property(name, &bytes);
    }

    /// Adds a `reg` property of (address, size) pairs, two cells each.
    pub fn property_reg(&mut self, regions: &[(u64, u64)]) {
        let mut bytes = Vec::with_capacity(regions.len() * 16);
        for &(address, size) in regions {
            bytes.extend_from_slice(&address.to_be_bytes());
            bytes.extend_from_slice(&size.to_be_bytes());
        }
        self.property("reg", &bytes);
    }

    /// Closes the tree and returns the blob (header, empty reservation map, structure, strings).
    pub fn finish(mut self) -> Vec<u8> {
        assert_eq!(self.depth, 0, "device tree has unclosed nodes");
        self.push_u32(FDT_END);

        let reservation_map_offset = HEADER_SIZE; // 8-byte aligned
        let reservation_map_size = 16; // just the terminating (0, 0) entry
        let structure_offset = reservation_map_offset + reservation_map_size;
        let strings_offset = structure_offset + self.structure.len();
        let total_size = strings_offset + self.strings.len();

        let header = [
            FDT_MAGIC as usize,
            total_size,
            structure_offset,
            strings_offset,
            reservation_map_offset,
            FDT_VERSION as usize,
            FDT_LAST_COMPATIBLE_VERSION as usize,
            0, // boot_cpuid_phys
            self.strings.len(),
            self.structure.len(),
        ]
        .map(|field| u32::try_from(field).unwrap());

        let mut blob = Vec::with_capacity(total_size);
        for field in header {
            blob.extend_from_slice(&field.to_be_bytes());
        }
        blob.resize(structure_offset, 0);
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob
    }

    fn push_u32(&mut self, value: u32) {
        self.structure.extend_from_slice(&value.to_be_bytes());
    }

    fn pad_structure(&mut self) {
        let padded = self.structure.len().next_multiple_of(4);
        self.structure.resize(padded, 0);
    }

    /// Returns the offset of `name` in the strings block, adding it if needed.
    fn string_offset(&mut self, name: &str) -> u32 {
        let mut offset = 0;
        while offset < self.strings.len() {
            let len = self.strings[offset..]
                .iter()
                .position(|&byte| byte == 0)
                .unwrap();
            if &self.strings[offset..offset + len] == name.as_bytes() {
                return u32::try_from(offset).unwrap();
            }
            offset += len + 1;
        }
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        u32::try_from(offset).unwrap()
    }
}
