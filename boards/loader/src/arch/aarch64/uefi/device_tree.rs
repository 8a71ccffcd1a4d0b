//! The device tree the kernel gets on a UEFI boot, in the loader's arena below the kernel:
//! - from firmware that has one (QEMU `virt` with `acpi=off`, U-Boot): that tree, node for
//!   node and property for property, with our `/chosen` (the command line) instead of its;
//! - from ACPI where the firmware gives only that (Arm clouds): the nodes kernel 0.11 reads
//!   (`arch/aarch64/kernel/interrupts.rs`, `systemtime.rs`, `processor.rs`): the GICv3 as
//!   `/intc@…` (`reg` = distributor, then redistributors), a root node whose compatible
//!   holds `timer` (its second `interrupts` triple is the non-secure EL1 timer), `/cpus`,
//!   the UART, and PSCI by `hvc`.

use alloc::format;
use alloc::vec::Vec;

use fdt::node::FdtNode;
use fdt::Fdt;

use super::acpi::Hardware;
use crate::fdt_writer::FdtWriter;

const GIC_PHANDLE: u32 = 1;
const GICD_SIZE: u64 = 0x1_0000;
const UART_SIZE: u64 = 0x1000;

/// `firmware`'s tree with `/chosen/bootargs` = `cmdline` (its own `/chosen` left out).
pub fn from_firmware(firmware: &Fdt<'_>, cmdline: &str) -> Vec<u8> {
    let root = firmware
        .find_node("/")
        .expect("the firmware's device tree has no root");
    let mut fdt = FdtWriter::new();
    fdt.begin_node("");
    for property in root.properties() {
        fdt.property(property.name, property.value);
    }
    for child in root.children() {
        if child.name != "chosen" {
            copy(&mut fdt, child);
        }
    }
    chosen(&mut fdt, cmdline);
    fdt.end_node();
    fdt.finish()
}

fn copy(fdt: &mut FdtWriter, node: FdtNode<'_, '_>) {
    fdt.begin_node(node.name);
    for property in node.properties() {
        fdt.property(property.name, property.value);
    }
    for child in node.children() {
        copy(fdt, child);
    }
    fdt.end_node();
}

fn chosen(fdt: &mut FdtWriter, cmdline: &str) {
    fdt.begin_node("chosen");
    fdt.property_string("bootargs", cmdline);
    fdt.end_node();
}

/// A tree describing `hardware` (read from ACPI), with `cmdline` as `/chosen/bootargs`.
pub fn from_acpi(hardware: &Hardware, cmdline: &str) -> Vec<u8> {
    let mut fdt = FdtWriter::new();
    fdt.begin_node("");
    fdt.property_u32("#address-cells", 2);
    fdt.property_u32("#size-cells", 2);
    fdt.property_string("compatible", "hermit,acpi");
    fdt.property_u32("interrupt-parent", GIC_PHANDLE);
    chosen(&mut fdt, cmdline);

    fdt.begin_node("cpus");
    fdt.property_u32("#address-cells", 1);
    fdt.property_u32("#size-cells", 0);
    for &mpidr in &hardware.cpus {
        // The affinity fields Aff2..Aff0, as the DT binding for arm,armv8 CPUs gives them.
        let reg = (mpidr & 0xff_ffff) as u32;
        fdt.begin_node(&format!("cpu@{reg:x}"));
        fdt.property_string("device_type", "cpu");
        fdt.property_string("compatible", "arm,armv8");
        fdt.property_u32("reg", reg);
        fdt.property_string("enable-method", "psci");
        fdt.end_node();
    }
    fdt.end_node();

    fdt.begin_node(&format!("intc@{:x}", hardware.gicd));
    fdt.property_string("compatible", "arm,gic-v3");
    fdt.property_u32("#interrupt-cells", 3);
    fdt.property("interrupt-controller", &[]);
    fdt.property_reg(&[(hardware.gicd, GICD_SIZE), hardware.gicr]);
    fdt.property_u32("phandle", GIC_PHANDLE);
    fdt.end_node();

    fdt.begin_node("timer");
    fdt.property_string("compatible", "arm,armv8-timer");
    let mut interrupts = Vec::new();
    for (gsiv, flags) in hardware.timers {
        // A PPI: GSIV 16..32 is PPI 0..16. Trigger: 1 edge rising, 4 level high, 8 level low.
        let trigger: u32 = match (flags & 1 != 0, flags & 2 != 0) {
            (true, _) => 1,
            (false, false) => 4,
            (false, true) => 8,
        };
        for cell in [1, gsiv.saturating_sub(16), trigger] {
            interrupts.extend_from_slice(&u32::to_be_bytes(cell));
        }
    }
    fdt.property("interrupts", &interrupts);
    fdt.property("always-on", &[]);
    fdt.end_node();

    if let Some((base, ..)) = hardware.uart {
        fdt.begin_node(&format!("serial@{base:x}"));
        fdt.property_string("compatible", "arm,pl011");
        fdt.property_reg(&[(base, UART_SIZE)]);
        fdt.end_node();
    }

    fdt.begin_node("psci");
    fdt.property_string("compatible", "arm,psci-1.0");
    fdt.property_string("method", "hvc");
    fdt.end_node();

    fdt.end_node();
    fdt.finish()
}
