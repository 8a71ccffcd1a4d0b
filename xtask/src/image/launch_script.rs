//! The launch scripts an image carries (`run-qemu.sh`, `run-uhyve.sh`): bash, filled in
//! from the board profile, self-contained so that the image folder can be copied anywhere.
//! The bash lives in `xtask/templates/`: the scripts, and the fragments that differ per
//! board. [`fill`] is the one way a value reaches a script: every value is a single-quoted
//! bash word ([`bash_quote`]); only our own fragments go in as code.

use hermit_wasm_kernel::limit_spec::Limits;
use hermit_wasm_kernel::manifest::Map;

use crate::plan::profile::{Board, ExitDevice, GuestDelivery, StdinDevice, StdoutDevice};

const QEMU_TEMPLATE: &str = include_str!("../../templates/launch/run-qemu.sh");
const UHYVE_TEMPLATE: &str = include_str!("../../templates/launch/run-uhyve.sh");
/// `parse_map` and `add_map`: the map grammar in bash (both scripts).
const MAP_FUNCTIONS: &str = include_str!("../../templates/launch/map.sh");
/// `parse_limit` and `vm_memory`: the limit grammar in bash, and the RAM a memory limit needs.
const LIMIT_FUNCTIONS: &str = include_str!("../../templates/launch/limits.sh");
/// The run report (`--report`).
pub const REPORT_FUNCTIONS: &str = include_str!("../../templates/launch/report.sh");
const KVM_BLOCK: &str = include_str!("../../templates/launch/kvm.sh");
const VIRTIO_FS_BLOCK: &str = include_str!("../../templates/launch/virtio-fs.sh");
const NO_VIRTIO_FS_BLOCK: &str = include_str!("../../templates/launch/no-virtio-fs.sh");
const STDIN_VIRTIO_CONSOLE: &str = include_str!("../../templates/launch/stdin-virtio-console.sh");
const STDIN_SEMIHOSTING: &str = include_str!("../../templates/launch/stdin-semihosting.sh");
const STDOUT_PIPE: &str = include_str!("../../templates/launch/stdout-pipe.sh");
const STDOUT_DEBUGCON: &str = include_str!("../../templates/launch/stdout-debugcon.sh");

/// What the scripts say about the image they boot.
pub struct ScriptInfo<'a> {
    pub image: &'a str,
    pub module: &'a str,
    /// The image's MAP lines (absolute host paths), shared before any `--map`.
    pub maps: &'a [Map],
    /// The image's LIMIT lines.
    pub limits: &'a Limits,
    /// The sha256 of the module (`.wasm`), for the run report.
    pub module_sha256: &'a str,
    /// Bytes of the image's guest ELF (kernel, runner and precompiled module).
    pub guest_size: u64,
    /// For a wasm32-wasip1-threads module (its memory is shared), the bytes its shared
    /// memory may grow to in this image.
    pub shared_memory: Option<u64>,
}

const MIB: u64 = 1 << 20;

/// MiB the guest needs besides its module's linear memory: the kernel's own, and the guest
/// ELF twice, rounded up: loaded, and room for the copy of the precompiled module Wasmtime
/// makes when the payload is not page-aligned in memory (the module runs in place
/// otherwise), or for the ELF file where QEMU puts it before the loader runs when the
/// loader has to copy the guest (an `-initrd`).
fn memory_overhead_mib(guest_size: u64) -> u64 {
    32 + 2 * guest_size.div_ceil(MIB)
}

/// The least RAM, in MiB, the board boots this guest with: the overhead, which also covers
/// a guest ELF that QEMU puts up to 16 MiB into RAM (`guest-address`; the RAM below it and
/// the guest's kernel and runner are lost to the kernel's heap).
fn min_memory_mib(guest_size: u64) -> u64 {
    memory_overhead_mib(guest_size)
}

/// The RAM, in MiB, that the launch script `script` (a `run-qemu.sh`'s text) gives a VM
/// whose module may grow to `limit` bytes: its own `vm_memory`, run by bash.
pub fn vm_memory_mib(script: &str, limit: u64) -> anyhow::Result<u64> {
    use anyhow::Context;
    let values = script
        .find("\nmemory_overhead=")
        .zip(script.find("\nmodule_sha256="))
        .map(|(start, end)| &script[start + 1..end])
        .context("the script sets no memory_overhead and min_memory")?;
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{values}\n{LIMIT_FUNCTIONS}\nvm_memory {limit}"))
        .output()
        .context("running bash")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("vm_memory gave {text:?}"))
}

/// MiB of RAM for a VM whose threads module's shared memory may grow to `bytes`: four
/// times it and the room for the threads' stacks (`THREADS_STACKS_MIB`), plus the overhead,
/// at least the least the board boots with. The same sum as the scripts' `vm_memory`
/// (`templates/launch/limits.sh`; a test holds the two together), for the scripts that do
/// not size the VM themselves (`run-disk.sh`).
pub fn threads_vm_memory_mib(bytes: u64, guest_size: u64) -> u64 {
    let mib = bytes.div_ceil(MIB).min(4096);
    (4 * (mib + THREADS_STACKS_MIB) + memory_overhead_mib(guest_size))
        .max(min_memory_mib(guest_size))
}

/// MiB of the quarter of a threads module's VM outside the kernel's heap that its
/// threads' stacks take: 64 threads of 2 MiB, and 32 MiB more.
const THREADS_STACKS_MIB: u64 = 160;

/// An optional number as a script value: empty for none.
fn optional(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// What replaces a placeholder `@NAME@`.
pub enum Fill<'a> {
    /// A value: goes in as one single-quoted bash word.
    Word(&'a str),
    /// Our own bash (a template fragment, or lines built from quoted words): verbatim.
    Code(&'a str),
}

/// `template` with every `@NAME@` of `fills` replaced; each must occur.
pub fn fill(template: &str, fills: &[(&str, Fill)]) -> String {
    let mut script = template.to_string();
    for (name, value) in fills {
        let placeholder = format!("@{name}@");
        assert!(
            script.contains(&placeholder),
            "the template has no {placeholder}"
        );
        let text = match value {
            Fill::Word(word) => bash_quote(word),
            Fill::Code(code) => code.trim_end_matches('\n').to_string(),
        };
        script = script.replace(&placeholder, &text);
    }
    script
}

/// `s` as one bash word, in single quotes (a `'` inside becomes `'\''`). Newlines and
/// everything else stay literal inside the quotes.
pub fn bash_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line's first word by which the PVH loader finds a guest ELF that QEMU
/// loaded itself: the loader's `GUEST_ELF_WORD` (`boards/loader/src/arch/x86_64/pvh.rs`,
/// which a test holds to this), followed by the address.
const GUEST_ELF_WORD: &str = "hermit-wasm.guest-elf=";

/// What the launch script puts first on the command line for our loader, which takes it
/// off before the kernel reads the line.
fn loader_words(board: &Board) -> String {
    match board.qemu.guest_delivery() {
        GuestDelivery::RawLoader(address) => format!("{GUEST_ELF_WORD}{address:#x} "),
        GuestDelivery::Initrd | GuestDelivery::GuestLoader(_) => String::new(),
    }
}

/// `run-qemu.sh` for `board`.
pub fn qemu_script(board: &Board, info: &ScriptInfo) -> String {
    let qemu = &board.qemu;
    let kvm = match &qemu.kvm_cpu {
        Some(kvm_cpu) => fill(KVM_BLOCK, &[("KVM_CPU", Fill::Word(kvm_cpu))]),
        None => String::new(),
    };
    let devices = qemu_devices(board)
        .iter()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n");
    let stdout = stdout_route(qemu.stdout);
    let smp = qemu.smp.to_string();
    let max_cpus = qemu.max_cpus.to_string();
    let slots = qemu
        .virtio_mmio
        .as_ref()
        .map(|fs| fs.runner_option())
        .unwrap_or_default();
    let stdin = match qemu.stdin {
        StdinDevice::VirtioConsole => STDIN_VIRTIO_CONSOLE,
        StdinDevice::SemihostingStream => STDIN_SEMIHOSTING,
    };
    let shares = match qemu.virtio_mmio {
        Some(_) => VIRTIO_FS_BLOCK,
        None => NO_VIRTIO_FS_BLOCK,
    };
    let image_maps = image_maps(info.maps);
    let overhead = memory_overhead_mib(info.guest_size).to_string();
    let min_memory = min_memory_mib(info.guest_size).to_string();
    let shared_memory_capacity = optional(info.shared_memory);
    let (limit_memory, limit_cpu, limit_wall) = (
        optional(info.limits.memory),
        optional(info.limits.cpu),
        optional(info.limits.wall),
    );
    fill(
        QEMU_TEMPLATE,
        &[
            ("IMAGE", Fill::Word(info.image)),
            ("MODULE", Fill::Word(info.module)),
            ("BOARD", Fill::Word(&board.name)),
            ("QEMU", Fill::Word(&qemu.binary)),
            ("PACKAGE", Fill::Word(&qemu.package)),
            ("MACHINE", Fill::Word(&qemu.machine)),
            ("CPU", Fill::Word(&qemu.cpu)),
            ("MEMORY", Fill::Word(&qemu.memory)),
            ("MEMORY_OVERHEAD", Fill::Word(&overhead)),
            ("MIN_MEMORY", Fill::Word(&min_memory)),
            (
                "SHARED_MEMORY",
                Fill::Word(if info.shared_memory.is_some() {
                    "1"
                } else {
                    "0"
                }),
            ),
            (
                "SHARED_MEMORY_CAPACITY",
                Fill::Word(&shared_memory_capacity),
            ),
            ("MODULE_SHA256", Fill::Word(info.module_sha256)),
            ("LIMIT_MEMORY", Fill::Word(&limit_memory)),
            ("LIMIT_CPU", Fill::Word(&limit_cpu)),
            ("LIMIT_WALL", Fill::Word(&limit_wall)),
            ("SMP", Fill::Word(&smp)),
            ("MAX_CPUS", Fill::Word(&max_cpus)),
            (
                "DROP_PRIVILEGES",
                Fill::Word(if qemu.drop_privileges { "1" } else { "0" }),
            ),
            ("RAM_BACKING", Fill::Word(qemu.ram.word())),
            ("VIRTIO_MMIO_SLOTS", Fill::Word(&slots)),
            ("IMAGE_MAPS", Fill::Code(&image_maps)),
            ("MAP_FUNCTIONS", Fill::Code(MAP_FUNCTIONS)),
            ("LIMIT_FUNCTIONS", Fill::Code(LIMIT_FUNCTIONS)),
            ("REPORT_FUNCTIONS", Fill::Code(REPORT_FUNCTIONS)),
            ("KVM", Fill::Code(&kvm)),
            ("SHARES", Fill::Code(shares)),
            ("LOADER_WORDS", Fill::Code(&loader_words(board))),
            ("KERNEL_ENV", Fill::Code(stdout.kernel_env)),
            ("STDIN", Fill::Code(stdin)),
            ("STDOUT", Fill::Code(stdout.fragment)),
            ("DEVICES", Fill::Code(&devices)),
            ("REDIRECT", Fill::Code(stdout.redirect)),
        ],
    )
}

/// The image's maps as the script's first shares (`share_dirs`, `share_ro`).
fn image_maps(maps: &[Map]) -> String {
    let dirs: Vec<String> = maps.iter().map(|map| bash_quote(&map.host)).collect();
    let read_only: Vec<&str> = maps
        .iter()
        .map(|map| if map.read_only { "1" } else { "0" })
        .collect();
    format!(
        "share_dirs=({})\nshare_ro=({})\n",
        dirs.join(" "),
        read_only.join(" ")
    )
}

/// The QEMU arguments that load the image and attach consoles and the exit device, one
/// line each, as bash words (they may use `$here`, `$cmdline`).
fn qemu_devices(board: &Board) -> Vec<String> {
    let mut lines = Vec::new();
    // QEMU splits device options at commas; a comma in the path is written twice.
    let guest = match board.qemu.guest_delivery() {
        GuestDelivery::RawLoader(address) => format!(
            r#"-device "loader,file=${{here//,/,,}}/guest.elf,addr={address:#x},force-raw=on""#
        ),
        GuestDelivery::GuestLoader(address) => {
            format!(r#"-device "guest-loader,addr={address:#x},initrd=${{here//,/,,}}/guest.elf""#)
        }
        GuestDelivery::Initrd => r#"-initrd "$here/guest.elf""#.to_string(),
    };
    lines.push(format!(
        r#"-kernel "$here/loader.elf" {guest} -append "$cmdline""#
    ));
    if let Some(firmware) = &board.qemu.firmware {
        lines.push(format!("-bios {}", bash_quote(firmware)));
    }
    let semihosting = board.qemu.exit == ExitDevice::Semihosting
        || board.qemu.stdin == StdinDevice::SemihostingStream
        || board.qemu.stdout != StdoutDevice::Debugcon;
    if semihosting {
        lines.push("-semihosting-config enable=on,target=native".into());
    }
    lines.extend(
        stdout_route(board.qemu.stdout)
            .devices
            .iter()
            .map(|d| d.to_string()),
    );
    match board.qemu.exit {
        ExitDevice::IsaDebugExit => {
            lines.push("-device isa-debug-exit,iobase=0xf4,iosize=0x04".into())
        }
        ExitDevice::Semihosting => {}
    }
    lines
}

/// How the module's stdout and stderr reach the launcher's, per stdout device: a template
/// fragment run before QEMU starts, QEMU arguments, redirections of the QEMU command, and
/// kernel environment words for the guest (each redirection and word list empty or starting
/// with a space).
struct StdoutRoute {
    fragment: &'static str,
    devices: &'static [&'static str],
    redirect: &'static str,
    kernel_env: &'static str,
}

fn stdout_route(device: StdoutDevice) -> StdoutRoute {
    match device {
        // `debugcon` is built by the fragment, from fds 6 and 7 (copies of 1 and 2).
        StdoutDevice::Debugcon => StdoutRoute {
            fragment: STDOUT_DEBUGCON,
            devices: &[r#""${debugcon[@]}""#],
            redirect: " 6>&1 7>&2",
            kernel_env: "",
        },
        // The guest opens ":tt", QEMU's own stdout and stderr.
        StdoutDevice::Semihosting => StdoutRoute {
            fragment: "",
            devices: &[],
            redirect: "",
            kernel_env: "",
        },
        // OpenSBI's console (the kernel's log) is QEMU's stdout, which goes to the log file;
        // the module's stdout is fd 3, a pipe to `cat` (`templates/launch/stdout-pipe.sh`).
        StdoutDevice::SemihostingPipe => StdoutRoute {
            fragment: STDOUT_PIPE,
            devices: &[],
            redirect: r#" >>"$log""#,
            kernel_env: " env=HERMIT_WASM_STDOUT=/dev/fd/3",
        },
    }
}

/// `run-uhyve.sh` for `board`, if uhyve can boot it.
pub fn uhyve_script(board: &Board, info: &ScriptInfo) -> Option<String> {
    let uhyve = board.uhyve.as_ref()?;
    let cpus = uhyve.cpus.to_string();
    // A threads module's VM gets RAM for its shared memory, as run-qemu.sh gives it.
    let memory = match info.shared_memory {
        Some(bytes) => format!("{}M", threads_vm_memory_mib(bytes, info.guest_size)),
        None => uhyve.memory.clone(),
    };
    let image_maps = image_maps(info.maps);
    Some(fill(
        UHYVE_TEMPLATE,
        &[
            ("IMAGE", Fill::Word(info.image)),
            ("MODULE", Fill::Word(info.module)),
            ("BOARD", Fill::Word(&board.name)),
            ("MEMORY", Fill::Word(&memory)),
            ("CPUS", Fill::Word(&cpus)),
            ("LIMIT_WALL", Fill::Word(&optional(info.limits.wall))),
            ("LIMIT_CPU", Fill::Word(&optional(info.limits.cpu))),
            ("IMAGE_MAPS", Fill::Code(&image_maps)),
            ("MAP_FUNCTIONS", Fill::Code(MAP_FUNCTIONS)),
            ("LIMIT_FUNCTIONS", Fill::Code(LIMIT_FUNCTIONS)),
        ],
    ))
}

#[cfg(test)]
mod tests;
