//! The device tree the kernel reads on x86_64 (kernel 0.11 `env.rs`, `mm/physicalmem.rs`,
//! `kernel/processor.rs`):
//! - `/memory@…` nodes: one RAM region each (the kernel reads the first `reg` entry only);
//! - `/chosen/bootargs`: the command line (`-- args` reach the application);
//! - `/hermit,rsdp`: `reg` = physical address of the ACPI RSDP;
//! - `/hermit,tsc`: `khz` = TSC frequency, which spares the kernel its own measurement.

use alloc::format;
use core::ops::Range;

use crate::fdt_writer::FdtWriter;

/// Size of an ACPI 2.0 RSDP.
const RSDP_SIZE: u64 = 36;

/// Everything the device tree describes.
pub struct Machine<'a> {
    /// The root's first compatible string, which tells the kernel how it was booted.
    pub compatible: &'a str,
    pub ram: &'a [Range<u64>],
    pub cmdline: &'a str,
    pub rsdp: Option<u64>,
    pub tsc_khz: Option<u32>,
}

/// Builds the device tree; the blob stays in the loader's heap for the kernel.
pub fn build(machine: &Machine<'_>) -> &'static [u8] {
    let mut fdt = FdtWriter::new();
    fdt.begin_node("");
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 2);
    fdt.property_string("compatible", machine.compatible);

    fdt.begin_node("chosen");
    fdt.property_string("bootargs", machine.cmdline);
    fdt.end_node();

    for region in machine.ram {
        fdt.begin_node(&format!("memory@{:x}", region.start));
        fdt.property_string("device_type", "memory");
        fdt.property_reg(&[(region.start, region.end - region.start)]);
        fdt.end_node();
    }

    if let Some(rsdp) = machine.rsdp {
        fdt.begin_node("hermit,rsdp");
        fdt.property_reg(&[(rsdp, RSDP_SIZE)]);
        fdt.end_node();
    }

    if let Some(khz) = machine.tsc_khz {
        fdt.begin_node("hermit,tsc");
        fdt.property_u32("khz", khz);
        fdt.end_node();
    }

    fdt.end_node();
    fdt.finish().leak()
}
