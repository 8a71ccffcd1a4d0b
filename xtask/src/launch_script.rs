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
}

/// The QEMU arguments that load the image and attach consoles and the exit device, one
/// line each, as bash words (they may use `$here`, `$cmdline`).
fn qemu_devices(board: &Board) -> Vec<String> {
    let mut lines = Vec::new();
    match board.qemu.boot {
        BootProtocol::Pvh | BootProtocol::Sbi => {
            lines.push(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf" -append "$cmdline""#.to_string())
        }
        BootProtocol::GuestLoader => lines.push(
            r#"-kernel "$here/loader.elf" -device "guest-loader,addr=0x48000000,initrd=$here/guest.elf" -append "$cmdline""#
                .to_string(),
        ),
    }
    if let Some(firmware) = &board.qemu.firmware {
        lines.push(format!("-bios '{firmware}'"));
    }
    match board.arch {
        Arch::X86_64 => {
            lines.push(r#"-chardev file,id=stdout,path=/dev/fd/1,append=on -device isa-debugcon,iobase=0xe9,chardev=stdout"#.into());
            lines.push(r#"-chardev file,id=stderr,path=/dev/fd/2,append=on -device isa-debugcon,iobase=0xea,chardev=stderr"#.into());
        }
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
        let qemu = qemu_script(&board("x86_64-kvm"), &INFO);
        let uhyve = uhyve_script(&board("x86_64-kvm"), &INFO).unwrap();
        for script in [&qemu, &uhyve] {
            assert!(!script.contains('@'), "{script}");
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
        bash_syntax_ok(&qemu_script(&board("x86_64-kvm"), &INFO));
        bash_syntax_ok(&uhyve_script(&board("x86_64-kvm"), &INFO).unwrap());
    }

    #[test]
    fn module_arguments_are_quoted_for_the_kernel_command_line() {
        // The quoting loop of the template, run by bash on awkward arguments.
        let script = qemu_script(&board("x86_64-kvm"), &INFO);
        let start = script.find("cmdline=").unwrap();
        let end = script[start..].find("\ndone\n").unwrap() + start + 6;
        let snippet = format!(
            "args=(\"$@\")\n{}printf '%s' \"$cmdline\"\n",
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
            r#"env=HERMIT_WASM_PLATFORM=qemu -- 'plain' 'two words' 'it'\''s'"#
        );
    }
}
