//! Board profiles: the data in `boards/<name>.toml` that tells the xtask how to build and
//! boot an image for one board. A board is data; this module parses and validates it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The architectures we build for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    Aarch64,
    Riscv64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The ELF `e_machine` every artifact for this architecture must carry.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => goblin::elf::header::EM_X86_64,
            Arch::Aarch64 => goblin::elf::header::EM_AARCH64,
            Arch::Riscv64 => goblin::elf::header::EM_RISCV,
        }
    }
}

/// How QEMU is handed the loader and the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootProtocol {
    /// x86_64: the loader is a PVH ELF (`-kernel`); the guest is loaded raw at
    /// `guest-address` (`-device loader`), which the command line tells the loader, or is
    /// its `-initrd`.
    Pvh,
    /// aarch64: the loader is the `-kernel` ELF, the guest comes through `-device guest-loader`.
    GuestLoader,
    /// riscv64: firmware (OpenSBI) enters the loader in S-mode; the guest through
    /// `-device guest-loader` at `guest-address`, or `-initrd`.
    Sbi,
}

/// How the module's stdin reaches the guest; both stream it, and its end is EOF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StdinDevice {
    /// A virtio console port on the machine's virtio-mmio transport, which QEMU backs with
    /// its own stdin and closes at its end.
    VirtioConsole,
    /// The guest reads QEMU's own stdin (`/dev/stdin`) as a host file by semihosting, a
    /// read at a time as data arrives; its end is EOF. Streams.
    SemihostingStream,
}

/// Where the module's stdout and stderr leave the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StdoutDevice {
    /// x86 `isa-debugcon` ports 0xe9 (stdout) and 0xea (stderr), QEMU file chardevs on the
    /// launcher's own streams.
    Debugcon,
    /// Semihosting's `:tt`: QEMU's own stdout and stderr.
    Semihosting,
    /// stderr through semihosting's `:tt`; stdout through a host file the guest opens by
    /// semihosting, fd 3 of QEMU, a pipe to `cat` onto the launcher's stdout. For firmware
    /// that takes `:tt`'s stdout for its own console (OpenSBI on riscv64).
    SemihostingPipe,
}

/// How the guest hands its exit status to QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitDevice {
    /// x86 `isa-debug-exit` at port 0xf4: QEMU exits with `(status << 1) | 1`.
    IsaDebugExit,
    /// Arm / RISC-V semihosting `SYS_EXIT_EXTENDED`: QEMU exits with the status itself.
    Semihosting,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelProfile {
    /// Rust target the Hermit kernel is compiled for (`x86_64-unknown-none`, ...).
    pub target: String,
    /// Cargo features of `hermit-kernel`, default features off.
    pub features: Vec<String>,
    /// Extra rustflags beyond `-Zmutable-noalias=no`.
    #[serde(default)]
    pub rustflags: Vec<String>,
    /// Compiled-in log level (`off`, `error`, `warn`, `info`, `debug`, `trace`).
    pub log_level: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GuestProfile {
    /// Rust target of the guest kernel (`x86_64-unknown-hermit`, ...); also the target the
    /// modules are precompiled for.
    pub target: String,
    /// Cranelift ISA flags the precompiled modules may use (`has_sse41`, ...); the guest's
    /// CPU must have them, which Wasmtime checks when it loads a module.
    #[serde(default)]
    pub cpu_features: Vec<String>,
    /// Why this board cannot run wasm32-wasip1-threads modules yet; absent where it can.
    /// `cargo xtask image` refuses a threads module here with this reason.
    #[serde(default)]
    pub threads_unsupported: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoaderProfile {
    /// Bare-metal Rust target of `boards/loader`.
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QemuProfile {
    /// `qemu-system-*` executable.
    pub binary: String,
    /// Debian package that provides `binary`.
    pub package: String,
    pub boot: BootProtocol,
    /// Where QEMU puts the guest ELF in RAM (`-device guest-loader`, or on PVH
    /// `-device loader`); absent: the ELF is the `-initrd`, where QEMU chooses. Our loader
    /// leaves the payload in place (no copy) when the file lies on a 2 MiB boundary a
    /// little above it (`guest_in_place.rs`).
    #[serde(default)]
    pub guest_address: Option<u64>,
    pub machine: String,
    /// CPU model under the emulator (TCG).
    pub cpu: String,
    /// CPU model under KVM; absent where the board never uses KVM.
    #[serde(default)]
    pub kvm_cpu: Option<String>,
    pub memory: String,
    /// How far a threads module's shared memory may grow (its declared maximum, if
    /// lower; a memory limit, if lower still). The launch script sizes the VM's RAM for
    /// it, beyond `memory` (`xtask/templates/launch/limits.sh`).
    pub shared_memory_max: String,
    /// The most RAM a threads module's VM may have, where more would break it (riscv64:
    /// below 4 GiB physical); the image step refuses a module whose VM would need more.
    #[serde(default)]
    pub threads_memory_max: Option<String>,
    pub smp: u32,
    /// The most CPUs `run-qemu.sh --cpus` may give the VM.
    pub max_cpus: u32,
    pub exit: ExitDevice,
    pub stdin: StdinDevice,
    pub stdout: StdoutDevice,
    /// Firmware passed with `-bios` (`default` = QEMU's own), if the board needs one.
    #[serde(default)]
    pub firmware: Option<String>,
    /// The machine's virtio-mmio transport, on which the launcher adds virtio devices:
    /// virtio-fs for host directories (MAP, `--map`), the console for a streaming stdin;
    /// absent where the board has none (and so no host directories).
    #[serde(default)]
    pub virtio_mmio: Option<VirtioMmioProfile>,
    /// Whether QEMU, started as root, may give root up (`-run-with user=nobody`) once it
    /// has opened its files: only where the guest opens no host file while it runs.
    pub drop_privileges: bool,
    /// What holds the guest's RAM on the host (`anonymous` unless the board says).
    #[serde(default)]
    pub ram: RamBacking,
}

/// What holds a VM's RAM on the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RamBacking {
    /// QEMU's own anonymous memory, which it asks Linux to back with transparent huge
    /// pages: 2 MiB of host memory as soon as the guest touches one byte of it.
    #[default]
    Anonymous,
    /// A memfd (shared memory), which Linux backs with 4 KiB pages unless told otherwise
    /// (`/sys/kernel/mm/transparent_hugepage/shmem_enabled`, `never` by default): the host
    /// holds only the pages the guest touched.
    Memfd,
}

impl RamBacking {
    /// The word the launch scripts test (`ram_backing`).
    pub fn word(self) -> &'static str {
        match self {
            RamBacking::Anonymous => "anonymous",
            RamBacking::Memfd => "memfd",
        }
    }
}

/// A machine's virtio-mmio transport: the register windows the guest kernel's own drivers
/// look for their devices in (virtio-fs, served by virtiofsd; the stdin console).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VirtioMmioProfile {
    /// Physical address of the first virtio-mmio register window.
    pub mmio_base: u64,
    /// Bytes from one window to the next.
    pub mmio_stride: u64,
    /// How many windows the machine has.
    pub mmio_slots: u32,
}

impl VirtioMmioProfile {
    /// The windows as `BASE,STRIDE,COUNT` (the runner's `--virtio-fs`, the kernel
    /// environment's `HERMIT_WASM_STDIN_VIRTIO`).
    pub fn runner_option(&self) -> String {
        format!(
            "{:#x},{:#x},{}",
            self.mmio_base, self.mmio_stride, self.mmio_slots
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UhyveProfile {
    pub memory: String,
    pub cpus: u32,
}

/// One board, as `boards/<name>.toml` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Board {
    /// File stem of the profile; not part of the TOML.
    #[serde(skip)]
    pub name: String,
    pub description: String,
    pub arch: Arch,
    pub kernel: KernelProfile,
    pub guest: GuestProfile,
    pub loader: LoaderProfile,
    pub qemu: QemuProfile,
    /// Present where the board can also boot under uhyve (x86_64 with KVM).
    #[serde(default)]
    pub uhyve: Option<UhyveProfile>,
    /// Present where images also become disks that UEFI firmware boots (`cargo xtask disk`).
    #[serde(default)]
    pub disk: Option<DiskProfile>,
}

/// A disk that firmware boots, and the QEMU machine `run-disk.sh` boots it on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiskProfile {
    /// How the firmware finds and starts our loader on the disk.
    pub route: DiskRoute,
    /// `uefi`: the Rust target of `boards/loader` built as a UEFI application, and its name
    /// under `EFI/BOOT/` (the removable-media path firmware looks for).
    #[serde(default)]
    pub loader_target: Option<String>,
    #[serde(default)]
    pub boot_file: Option<String>,
    /// QEMU machine with the firmware (`run-disk.sh`).
    pub machine: String,
    /// The disk buses `run-disk.sh --disk-bus` offers (`nvme`, `virtio-scsi`,
    /// `virtio-blk`): those the firmware has drivers for; the first is the default.
    pub buses: Vec<String>,
    /// The firmware: `uefi`: its code (pflash) and variable store template; `u-boot`:
    /// U-Boot's ELF, which the board's SBI firmware starts. And their package.
    pub firmware_code: String,
    #[serde(default)]
    pub firmware_vars: Option<String>,
    pub firmware_package: String,
    /// QEMU options under which the same firmware describes the machine by a device tree
    /// instead of ACPI (`-machine acpi=off` on Arm), where the loader handles both; the
    /// tests boot the disk both ways.
    #[serde(default)]
    pub device_tree_options: Option<String>,
}

/// How firmware starts our loader from a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskRoute {
    /// Our loader as a UEFI application at `EFI/BOOT/<boot-file>`; it reads the guest and
    /// `hermit-wasm/cmdline.txt` from the EFI system partition itself.
    Uefi,
    /// U-Boot's standard boot reads `extlinux/extlinux.conf`: our loader's flat image
    /// (`booti`), the guest as the initrd, the command line as `append`.
    UBootExtlinux,
}

/// The disk buses `run-disk.sh` knows.
pub const DISK_BUSES: [&str; 3] = ["nvme", "virtio-scsi", "virtio-blk"];

/// Bytes in a QEMU memory size: a number with a `K`, `M`, `G` or `T` suffix (binary
/// units), or without one meaning MiB, as `-m` reads it.
pub fn memory_bytes(size: &str) -> Result<u64> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &size[digits.len()..] {
        "K" | "k" => 10,
        "" | "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        unit => bail!("memory size {size:?}: unknown unit {unit:?} (K, M, G or T)"),
    };
    let number: u64 = digits
        .parse()
        .with_context(|| format!("memory size {size:?}: not a whole number with a unit"))?;
    number
        .checked_mul(1 << shift)
        .with_context(|| format!("memory size {size:?} is too large"))
}

/// How the guest ELF reaches the machine's RAM, from the boot protocol and
/// `guest-address`; the launch script and the image follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestDelivery {
    /// `-initrd`, where QEMU chooses.
    Initrd,
    /// `-device guest-loader` at this address; the device tree names it for the loader.
    GuestLoader(u64),
    /// `-device loader` at this address, raw (PVH); the command line's first word names it
    /// for the loader.
    RawLoader(u64),
}

impl QemuProfile {
    pub fn guest_delivery(&self) -> GuestDelivery {
        match (self.boot, self.guest_address) {
            (_, None) => GuestDelivery::Initrd,
            (BootProtocol::Pvh, Some(address)) => GuestDelivery::RawLoader(address),
            (BootProtocol::GuestLoader | BootProtocol::Sbi, Some(address)) => {
                GuestDelivery::GuestLoader(address)
            }
        }
    }
}

impl Board {
    /// Bytes a threads module's shared memory may grow to at most on this board (the
    /// profile's `shared-memory-max`): the guest commits its pages as it grows, and the
    /// launch script gives the VM the RAM for that much.
    pub fn shared_memory_budget(&self) -> Result<u64> {
        memory_bytes(&self.qemu.shared_memory_max)
            .with_context(|| format!("board {}: qemu shared-memory-max", self.name))
    }

    /// `[qemu] threads-memory-max` in bytes, if the profile sets it.
    pub fn threads_memory_max(&self) -> Result<Option<u64>> {
        self.qemu
            .threads_memory_max
            .as_deref()
            .map(memory_bytes)
            .transpose()
            .with_context(|| format!("board {}: qemu threads-memory-max", self.name))
    }

    /// Parses and checks one profile.
    pub fn parse(name: &str, text: &str) -> Result<Board> {
        let mut board: Board =
            toml::from_str(text).with_context(|| format!("board profile {name}.toml"))?;
        board.name = name.to_string();
        board.check()?;
        Ok(board)
    }

    fn check_disk(&self, disk: &DiskProfile) -> Result<()> {
        let uefi_fields = [
            ("loader-target", disk.loader_target.is_some()),
            ("boot-file", disk.boot_file.is_some()),
            ("firmware-vars", disk.firmware_vars.is_some()),
        ];
        for (field, present) in uefi_fields {
            match (disk.route, present) {
                (DiskRoute::Uefi, false) => {
                    bail!("board {}: [disk] route uefi needs {field}", self.name)
                }
                (DiskRoute::UBootExtlinux, true) => {
                    bail!(
                        "board {}: [disk] route u-boot-extlinux has no {field}",
                        self.name
                    )
                }
                _ => {}
            }
        }
        if disk.buses.is_empty() {
            bail!("board {}: [disk] buses lists no bus", self.name);
        }
        for bus in &disk.buses {
            if !DISK_BUSES.contains(&bus.as_str()) {
                bail!(
                    "board {}: [disk] bus {bus:?} is not one of {}",
                    self.name,
                    DISK_BUSES.join(", ")
                );
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        let arch = self.arch.name();
        let expect = |what: &str, target: &str| -> Result<()> {
            if !target.starts_with(arch) {
                bail!(
                    "board {}: {what} target {target} is not for {arch}",
                    self.name
                );
            }
            Ok(())
        };
        self.shared_memory_budget()?;
        self.threads_memory_max()?;
        if self.qemu.smp == 0 || self.qemu.smp > self.qemu.max_cpus {
            bail!(
                "board {}: smp {} is not within 1..=max-cpus {}",
                self.name,
                self.qemu.smp,
                self.qemu.max_cpus
            );
        }
        expect("kernel", &self.kernel.target)?;
        expect("guest", &self.guest.target)?;
        if let Some(disk) = &self.disk {
            self.check_disk(disk)?;
            if let Some(target) = &disk.loader_target {
                expect("disk loader", target)?;
            }
        }
        expect("loader", &self.loader.target)?;
        if !self.guest.target.ends_with("-unknown-hermit") {
            bail!(
                "board {}: guest target {} is not a Hermit target",
                self.name,
                self.guest.target
            );
        }
        let boot_arch = match self.qemu.boot {
            BootProtocol::Pvh => Arch::X86_64,
            BootProtocol::GuestLoader => Arch::Aarch64,
            BootProtocol::Sbi => Arch::Riscv64,
        };
        let exit_fits = match self.qemu.exit {
            ExitDevice::IsaDebugExit => self.arch == Arch::X86_64,
            ExitDevice::Semihosting => self.arch != Arch::X86_64,
        };
        let stdout_fits = match self.qemu.stdout {
            StdoutDevice::Debugcon => self.arch == Arch::X86_64,
            StdoutDevice::Semihosting | StdoutDevice::SemihostingPipe => self.arch != Arch::X86_64,
        };
        if boot_arch != self.arch || !exit_fits || !stdout_fits {
            bail!(
                "board {}: boot protocol {:?}, exit device {:?} and stdout device {:?} do not \
                 all fit {arch}",
                self.name,
                self.qemu.boot,
                self.qemu.exit,
                self.qemu.stdout
            );
        }
        match (self.qemu.boot, self.qemu.guest_address) {
            (BootProtocol::GuestLoader, None) => bail!(
                "board {}: boot = \"guest-loader\" needs guest-address (where QEMU puts the \
                 guest ELF)",
                self.name
            ),
            // Above our loader (1 MiB up, under 2 MiB with its heap) and the DMA window it
            // keeps below the guest; within what the launch script's RAM sizing allows for.
            (BootProtocol::Pvh, Some(address)) if !(4 << 20..=16 << 20).contains(&address) => {
                bail!(
                    "board {}: guest-address {address:#x} must lie between 4 and 16 MiB into RAM \
                     (above the loader and its DMA window; the launch script sizes RAM for a \
                     file at most 16 MiB in)",
                    self.name
                )
            }
            // The loader starts a guest on a 2 MiB boundary, and leaves its payload in the
            // file only if the file lies on one.
            (_, Some(address)) if address % (2 << 20) != 0 => bail!(
                "board {}: guest-address {address:#x} is not a multiple of 2 MiB",
                self.name
            ),
            _ => {}
        }
        if self.qemu.stdin == StdinDevice::VirtioConsole && self.qemu.virtio_mmio.is_none() {
            bail!(
                "board {}: stdin = \"virtio-console\" needs the machine's [qemu.virtio-mmio]",
                self.name
            );
        }
        if let Some(fs) = &self.qemu.virtio_mmio {
            if fs.mmio_slots == 0 || fs.mmio_stride < 0x100 {
                bail!(
                    "board {}: [qemu.virtio-mmio] needs mmio-slots > 0 and mmio-stride >= 0x100",
                    self.name
                );
            }
        }
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        if !LEVELS.contains(&self.kernel.log_level.as_str()) {
            bail!(
                "board {}: kernel log-level {:?} is not one of {}",
                self.name,
                self.kernel.log_level,
                LEVELS.join(", ")
            );
        }
        Ok(())
    }
}

/// All board profiles in `dir`, by name.
pub fn load_all(dir: &Path) -> Result<BTreeMap<String, Board>> {
    let mut boards = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        boards.insert(name.clone(), Board::parse(&name, &text)?);
    }
    Ok(boards)
}

/// The board called `name`, or an error listing the known boards.
pub fn find(dir: &Path, name: &str) -> Result<Board> {
    let mut boards = load_all(dir)?;
    match boards.remove(name) {
        Some(board) => Ok(board),
        None => {
            let known: Vec<&str> = boards.keys().map(String::as_str).collect();
            bail!("unknown board {name:?}; known boards: {}", known.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_boards() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")
    }

    #[test]
    fn every_profile_in_the_repository_parses() {
        let boards = load_all(&repo_boards()).unwrap();
        assert!(boards.contains_key("x86_64-kvm"), "{:?}", boards.keys());
        for (name, board) in &boards {
            assert_eq!(&board.name, name);
        }
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let err = find(&repo_boards(), "pdp11").unwrap_err().to_string();
        assert!(err.contains("unknown board \"pdp11\""), "{err}");
        assert!(err.contains("x86_64-kvm"), "{err}");
    }

    #[test]
    fn a_target_of_another_architecture_is_refused() {
        let text = std::fs::read_to_string(repo_boards().join("x86_64-kvm.toml")).unwrap();
        let text = text.replace(
            "target = \"x86_64-unknown-hermit\"",
            "target = \"aarch64-unknown-hermit\"",
        );
        let err = Board::parse("x86_64-kvm", &text).unwrap_err().to_string();
        assert!(err.contains("not for x86_64"), "{err}");
    }

    #[test]
    fn the_arm_and_risc_v_boards_boot_our_loader_and_exit_by_semihosting() {
        let boards = load_all(&repo_boards()).unwrap();
        let aarch64 = &boards["aarch64-virt"];
        assert_eq!(aarch64.arch, Arch::Aarch64);
        assert_eq!(aarch64.qemu.boot, BootProtocol::GuestLoader);
        assert_eq!(aarch64.qemu.exit, ExitDevice::Semihosting);
        assert_eq!(aarch64.qemu.firmware, None);
        assert_eq!(aarch64.qemu.smp, 1);
        let riscv64 = &boards["riscv64-virt"];
        assert_eq!(riscv64.arch, Arch::Riscv64);
        assert_eq!(riscv64.qemu.boot, BootProtocol::Sbi);
        assert_eq!(riscv64.qemu.exit, ExitDevice::Semihosting);
        assert_eq!(riscv64.qemu.firmware.as_deref(), Some("default"));
        assert_eq!(riscv64.qemu.smp, 1);
        assert!(!riscv64.kernel.features.iter().any(|f| f == "pci"));
        for board in [aarch64, riscv64] {
            assert!(board.uhyve.is_none(), "{}", board.name);
            assert!(board.qemu.kvm_cpu.is_none(), "{}", board.name);
        }
    }

    #[test]
    fn the_guest_address_goes_with_the_boot_protocol() {
        let aarch64 = std::fs::read_to_string(repo_boards().join("aarch64-virt.toml")).unwrap();
        assert!(aarch64.contains("\nguest-address = 0x4080_0000\n"));
        let text = aarch64.replace("\nguest-address = 0x4080_0000\n", "\n");
        let err = Board::parse("aarch64-virt", &text).unwrap_err().to_string();
        assert!(err.contains("needs guest-address"), "{err}");
        let text = aarch64.replace("guest-address = 0x4080_0000", "guest-address = 0x4081_0000");
        let err = Board::parse("aarch64-virt", &text).unwrap_err().to_string();
        assert!(err.contains("not a multiple of 2 MiB"), "{err}");
        // PVH and SBI may take either.
        let boards = load_all(&repo_boards()).unwrap();
        assert_eq!(boards["riscv64-virt"].qemu.guest_address, Some(0x8080_0000));
        assert_eq!(boards["x86_64-kvm"].qemu.guest_address, Some(0x80_0000));
        let x86 = std::fs::read_to_string(repo_boards().join("x86_64-kvm.toml")).unwrap();
        let text = x86.replace("\nguest-address = 0x80_0000\n", "\n");
        assert_eq!(
            Board::parse("x86_64-kvm", &text)
                .unwrap()
                .qemu
                .guest_address,
            None
        );
    }

    #[test]
    fn a_boot_protocol_of_another_architecture_is_refused() {
        let text = std::fs::read_to_string(repo_boards().join("x86_64-kvm.toml")).unwrap();
        let text = text.replace("boot = \"pvh\"", "boot = \"sbi\"");
        let err = Board::parse("x86_64-kvm", &text).unwrap_err().to_string();
        assert!(err.contains("do not all fit x86_64"), "{err}");
        let riscv64 = std::fs::read_to_string(repo_boards().join("riscv64-virt.toml")).unwrap();
        for (from, to) in [
            ("exit = \"semihosting\"", "exit = \"isa-debug-exit\""),
            ("stdout = \"semihosting-pipe\"", "stdout = \"debugcon\""),
        ] {
            assert!(riscv64.contains(from), "{from}");
            let text = riscv64.replace(from, to);
            let err = Board::parse("riscv64-virt", &text).unwrap_err().to_string();
            assert!(err.contains("do not all fit riscv64"), "{to}: {err}");
        }
    }

    #[test]
    fn every_board_shares_directories_through_virtio_mmio() {
        let boards = load_all(&repo_boards()).unwrap();
        for board in boards.values() {
            let fs = board
                .qemu
                .virtio_mmio
                .as_ref()
                .expect("every board shares directories");
            assert!(
                fs.mmio_slots > 0 && fs.mmio_stride >= 0x200,
                "{}",
                board.name
            );
            // Our own driver talks to the device: the kernel's virtio-fs client stays out.
            assert!(
                !board.kernel.features.iter().any(|f| f == "fuse"),
                "{}",
                board.name
            );
        }
        assert_eq!(
            boards["x86_64-kvm"]
                .qemu
                .virtio_mmio
                .as_ref()
                .unwrap()
                .runner_option(),
            "0xfeb00000,0x200,8"
        );
        let text = std::fs::read_to_string(repo_boards().join("x86_64-kvm.toml")).unwrap();
        let text = text.replace("mmio-slots = 8", "mmio-slots = 0");
        let err = Board::parse("x86_64-kvm", &text).unwrap_err().to_string();
        assert!(err.contains("mmio-slots > 0"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = std::fs::read_to_string(repo_boards().join("x86_64-kvm.toml")).unwrap();
        let text = format!("colour = \"blue\"\n{text}");
        let err = format!("{:#}", Board::parse("x86_64-kvm", &text).unwrap_err());
        assert!(err.contains("colour"), "{err}");
    }
}
