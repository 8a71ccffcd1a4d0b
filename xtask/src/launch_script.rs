//! The launch scripts an image carries (`run-qemu.sh`, `run-uhyve.sh`): bash, filled in
//! from the board profile, self-contained so that the image folder can be copied anywhere.
//! The templates are in `xtask/templates/`.

use crate::profile::{Arch, Board, BootProtocol, ExitDevice};

const QEMU_TEMPLATE: &str = include_str!("../templates/run-qemu.sh");
const UHYVE_TEMPLATE: &str = include_str!("../templates/run-uhyve.sh");

/// What the scripts say about the image they boot.
pub struct ScriptInfo<'a> {
    pub image: &'a str,
    pub module: &'a str,
}

/// `run-qemu.sh` for `board`.
pub fn qemu_script(board: &Board, info: &ScriptInfo) -> String {
    let qemu = &board.qemu;
    let kvm = match &qemu.kvm_cpu {
        Some(kvm_cpu) => format!(
            "if grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null && {{ : <>/dev/kvm; }} 2>/dev/null; then\n  \
             accel=kvm\n  cpu='{kvm_cpu}'\nelse\n  \
             echo \"$me: no hardware virtualisation (vmx/svm and a usable /dev/kvm): using QEMU's emulator (TCG)\" >&2\nfi\n"
        ),
        None => String::new(),
    };
    let devices = qemu_devices(board)
        .iter()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n");
    let (redirections, kernel_env) = streams(board);
    QEMU_TEMPLATE
        .replace("@IMAGE@", info.image)
        .replace("@MODULE@", info.module)
        .replace("@BOARD@", &board.name)
        .replace("@PACKAGE@", &qemu.package)
        .replace("@QEMU@", &qemu.binary)
        .replace("@CPU@", &qemu.cpu)
        .replace("@KVM@\n", &kvm)
        .replace("@MACHINE@", &qemu.machine)
        .replace("@MEMORY@", &qemu.memory)
        .replace("@SMP@", &qemu.smp.to_string())
        .replace("@DEVICES@", &devices)
        .replace("@REDIRECT@", redirections)
        .replace("@KERNEL_ENV@", kernel_env)
        .replace("@STDIN@\n", stdin_block(board))
}

/// Hands the script's stdin to the guest: all of it, collected in a temporary file first
/// (so that the module sees EOF at its end, and any bytes pass), unless it is a terminal.
/// x86 reads the file as a fw_cfg file (QEMU arguments in `stdin_qemu`); aarch64 and
/// riscv64 read it as a host file by semihosting, named in the kernel's environment
/// (`HERMIT_WASM_STDIN`, a word quoted for the kernel's shell-style command line).
fn stdin_block(board: &Board) -> &'static str {
    match board.arch {
        Arch::X86_64 => concat!(
            "# The module's stdin: all of it, handed over as a fw_cfg file (its end is EOF).\n",
            "if [ ! -t 0 ]; then\n",
            "  stdin_file=$(mktemp \"$tmp/hermit-wasm-stdin.XXXXXX\") || exit 125\n",
            "  cat > \"$stdin_file\"\n",
            // QEMU option values double their commas.
            "  stdin_qemu=(-fw_cfg \"name=opt/hermit-wasm/stdin,file=${stdin_file//,/,,}\")\n",
            "fi\n",
        ),
        Arch::Aarch64 | Arch::Riscv64 => concat!(
            "# The module's stdin: all of it, in a host file the guest reads by semihosting (its\n",
            "# end is EOF); the kernel's environment names it.\n",
            "if [ ! -t 0 ]; then\n",
            "  stdin_file=$(mktemp \"$tmp/hermit-wasm-stdin.XXXXXX\") || exit 125\n",
            "  cat > \"$stdin_file\"\n",
            r#"  cmdline="'env=HERMIT_WASM_STDIN=${stdin_file//\'/\'\\\'\'}' $cmdline""#,
            "\n",
            "fi\n",
        ),
    }
}

/// The QEMU arguments that load the image and attach consoles and the exit device, one
/// line each, as bash words (they may use `$here`, `$cmdline`).
fn qemu_devices(board: &Board) -> Vec<String> {
    let mut lines = Vec::new();
    match board.qemu.boot {
        BootProtocol::Pvh | BootProtocol::Sbi => {
            lines.push(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf" -append "$cmdline""#.to_string())
        }
        // QEMU splits device options at commas; a comma in the path is written twice.
        BootProtocol::GuestLoader => lines.push(format!(
            r#"-kernel "$here/loader.elf" -device "guest-loader,addr={GUEST_LOADER_ADDRESS:#x},initrd=${{here//,/,,}}/guest.elf" -append "$cmdline""#
        )),
    }
    if let Some(firmware) = &board.qemu.firmware {
        lines.push(format!("-bios '{firmware}'"));
    }
    match board.arch {
        Arch::X86_64 => {
            lines.push(r#"-chardev file,id=stdout,path=/dev/fd/1,append=on -device isa-debugcon,iobase=0xe9,chardev=stdout"#.into());
            lines.push(r#"-chardev file,id=stderr,path=/dev/fd/2,append=on -device isa-debugcon,iobase=0xea,chardev=stderr"#.into());
        }
        // The guest opens ":tt" (QEMU's own stdout and stderr) or a host file by semihosting.
        Arch::Aarch64 | Arch::Riscv64 => {
            lines.push("-semihosting-config enable=on,target=native".into());
        }
    }
    match board.qemu.exit {
        ExitDevice::IsaDebugExit => {
            lines.push("-device isa-debug-exit,iobase=0xf4,iosize=0x04".into())
        }
        ExitDevice::Semihosting => {}
    }
    lines
}

/// Where the guest ELF goes with `-device guest-loader` (aarch64): 128 MiB into RAM, clear
/// of the loader, the device tree and the loaded guest.
const GUEST_LOADER_ADDRESS: u64 = 0x4800_0000;

/// Where the streams go: bash redirections of the QEMU command and kernel environment words
/// for the guest (each empty or starting with a space).
///
/// With semihosting on, OpenSBI (riscv64) takes semihosting's standard output for its
/// console, which carries the kernel's log: QEMU's stdout then goes to the log file, and the
/// module's stdout reaches QEMU as fd 3, a pipe to `cat` that writes to the script's stdout.
/// The guest opens `/dev/fd/3` as a host file; a pipe, because QEMU opens semihosting files
/// without `O_APPEND`, which would write over a file the script's stdout appends to or shares
/// with its stderr.
fn streams(board: &Board) -> (&'static str, &'static str) {
    match board.qemu.boot {
        BootProtocol::Sbi => (
            r#" 3>&1 >>"$log" | cat"#,
            " env=HERMIT_WASM_STDOUT=/dev/fd/3",
        ),
        BootProtocol::Pvh | BootProtocol::GuestLoader => ("", ""),
    }
}

/// `run-uhyve.sh` for `board`, if uhyve can boot it.
pub fn uhyve_script(board: &Board, info: &ScriptInfo) -> Option<String> {
    let uhyve = board.uhyve.as_ref()?;
    Some(
        UHYVE_TEMPLATE
            .replace("@IMAGE@", info.image)
            .replace("@MODULE@", info.module)
            .replace("@BOARD@", &board.name)
            .replace("@MEMORY@", &uhyve.memory)
            .replace("@CPUS@", &uhyve.cpus.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile;
    use std::path::Path;
    use std::process::Command;

    fn board(name: &str) -> Board {
        profile::find(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards"),
            name,
        )
        .unwrap()
    }

    const INFO: ScriptInfo = ScriptInfo {
        image: "app",
        module: "app.wasm",
    };

    #[test]
    fn every_placeholder_is_filled() {
        let mut scripts: Vec<String> = ["x86_64-kvm", "aarch64-virt", "riscv64-virt"]
            .iter()
            .map(|name| qemu_script(&board(name), &INFO))
            .collect();
        scripts.push(uhyve_script(&board("x86_64-kvm"), &INFO).unwrap());
        for script in &scripts {
            // Placeholders are `@NAME@`; bash's own `${args[@]}` is no placeholder.
            let inner: Vec<&str> = script.split('@').collect();
            let inner = &inner[1..inner.len().saturating_sub(1).max(1)];
            let leftover = inner.iter().find(|word| {
                !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
            assert_eq!(leftover, None, "{script}");
        }
    }

    #[test]
    fn the_x86_script_boots_microvm_with_the_pvh_loader_and_exit_device() {
        let script = qemu_script(&board("x86_64-kvm"), &INFO);
        assert!(script.contains("qemu=qemu-system-x86_64"));
        assert!(script.contains("-machine 'microvm"));
        assert!(script.contains(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf""#));
        assert!(script.contains("isa-debug-exit,iobase=0xf4"));
        assert!(script.contains("apt-get install qemu-system-x86"));
        assert!(script.contains("accel=kvm"), "x86_64-kvm may use KVM");
    }

    #[test]
    fn the_aarch64_script_passes_the_guest_through_guest_loader_and_uses_semihosting() {
        let script = qemu_script(&board("aarch64-virt"), &INFO);
        assert!(script.contains("qemu=qemu-system-aarch64"));
        assert!(script.contains("-machine 'virt,gic-version=3'"));
        assert!(script.contains("cpu='cortex-a72'"));
        assert!(script
            .contains(r#"-device "guest-loader,addr=0x48000000,initrd=${here//,/,,}/guest.elf""#));
        assert!(script.contains("-semihosting-config enable=on,target=native"));
        assert!(!script.contains("-bios"));
        assert!(!script.contains("accel=kvm"), "no KVM for Arm guests");
        // Semihosting's ":tt" is QEMU's own stdout and stderr: no redirection needed.
        assert!(script.contains("\"${run[@]}\" </dev/null\n"));
        assert!(script.contains(r#"cmdline="env=HERMIT_WASM_PLATFORM=qemu --""#));
    }

    #[test]
    fn the_riscv64_script_boots_opensbi_and_keeps_its_console_off_stdout() {
        let script = qemu_script(&board("riscv64-virt"), &INFO);
        assert!(script.contains("qemu=qemu-system-riscv64"));
        assert!(script.contains("-bios 'default'"));
        assert!(script.contains(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf""#));
        assert!(script.contains("-semihosting-config enable=on,target=native"));
        // OpenSBI's console (the kernel log) is QEMU's stdout: that goes to the log, the
        // module's stdout to fd 3, a pipe to cat; the status is QEMU's, not cat's.
        assert!(script
            .contains("\"${run[@]}\" </dev/null 3>&1 >>\"$log\" | cat\nrc=${PIPESTATUS[0]}\n"));
        assert!(script.contains(
            r#"cmdline="env=HERMIT_WASM_PLATFORM=qemu env=HERMIT_WASM_STDOUT=/dev/fd/3 --""#
        ));
    }

    #[test]
    fn stdin_goes_by_fw_cfg_on_x86_and_by_a_named_host_file_elsewhere() {
        let x86 = qemu_script(&board("x86_64-kvm"), &INFO);
        assert!(x86.contains(
            r#"stdin_qemu=(-fw_cfg "name=opt/hermit-wasm/stdin,file=${stdin_file//,/,,}")"#
        ));
        assert!(!x86.contains("HERMIT_WASM_STDIN"));
        for name in ["aarch64-virt", "riscv64-virt"] {
            let script = qemu_script(&board(name), &INFO);
            assert!(script.contains("'env=HERMIT_WASM_STDIN="), "{name}");
            assert!(!script.contains("-fw_cfg"), "{name}");
        }
    }

    #[test]
    fn the_stdin_file_is_collected_whole_and_named_with_quoting() {
        // The stdin block of a semihosting board, run by bash with an awkward TMPDIR and
        // binary input; the kernel splits its command line as a shell would (bash's `eval`
        // here).
        let script = qemu_script(&board("aarch64-virt"), &INFO);
        let start = script.find("# The module's stdin").unwrap();
        let end = script[start..].find("\nfi\n").unwrap() + start + 4;
        let dir = std::env::temp_dir().join(format!("hermit-wasm it's {}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let snippet = format!(
            "tmp=$TMPDIR\ncmdline='env=A=1 --'\n{}eval \"set -- $cmdline\"\nprintf '%s\\n' \"$@\"\n",
            &script[start..end]
        );
        let input = b"a\0b\n'\"\xff";
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(&snippet)
            .env("TMPDIR", &dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        let out = child.wait_with_output().unwrap();
        let words = String::from_utf8(out.stdout).unwrap();
        let words: Vec<&str> = words.lines().collect();
        assert_eq!(words.len(), 3, "{words:?}");
        let path = words[0].strip_prefix("env=HERMIT_WASM_STDIN=").unwrap();
        assert!(
            path.starts_with(&format!("{}/hermit-wasm-stdin.", dir.display())),
            "{path}"
        );
        assert_eq!(&words[1..], ["env=A=1", "--"]);
        assert_eq!(std::fs::read(path).unwrap(), input);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs bash's parser over a script: a template error fails here, not on a user's machine.
    fn bash_syntax_ok(script: &str) {
        let dir = std::env::temp_dir().join(format!("hermit-wasm-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("script.sh");
        std::fs::write(&path, script).unwrap();
        let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_scripts_are_valid_bash() {
        for name in ["x86_64-kvm", "aarch64-virt", "riscv64-virt"] {
            bash_syntax_ok(&qemu_script(&board(name), &INFO));
        }
        bash_syntax_ok(&uhyve_script(&board("x86_64-kvm"), &INFO).unwrap());
    }

    #[test]
    fn module_arguments_are_quoted_for_the_kernel_command_line() {
        // The quoting loop of the template, run by bash on awkward arguments.
        let script = qemu_script(&board("x86_64-kvm"), &INFO);
        let start = script.find("cmdline=").unwrap();
        let end = script[start..].find("\ndone\n").unwrap() + start + 6;
        let snippet = format!(
            "args=(\"$@\")\nrunner=(--env 'A=b c')\n{}printf '%s' \"$cmdline\"\n",
            &script[start..end]
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&snippet)
            .args(["bash", "plain", "two words", "it's"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            r#"env=HERMIT_WASM_PLATFORM=qemu -- '--env' 'A=b c' '--' 'plain' 'two words' 'it'\''s'"#
        );
    }
}
