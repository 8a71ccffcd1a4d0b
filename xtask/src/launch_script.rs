//! The launch scripts an image carries (`run-qemu.sh`, `run-uhyve.sh`): bash, filled in
//! from the board profile, self-contained so that the image folder can be copied anywhere.
//! The templates are in `xtask/templates/`.

use hermit_wasm_kernel::manifest::Map;

use crate::profile::{Arch, Board, BootProtocol, ExitDevice};

const QEMU_TEMPLATE: &str = include_str!("../templates/run-qemu.sh");
const UHYVE_TEMPLATE: &str = include_str!("../templates/run-uhyve.sh");

/// What the scripts say about the image they boot.
pub struct ScriptInfo<'a> {
    pub image: &'a str,
    pub module: &'a str,
    /// The image's MAP lines (absolute host paths), shared before any `--map`.
    pub maps: &'a [Map],
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
        .replace("@IMAGE_MAPS@\n", &image_maps(info.maps))
        .replace("@ADD_MAP@\n", ADD_MAP)
        .replace("@SHARES@\n", &shares_block(board))
        .replace("@MEMORY@", &qemu.memory)
        .replace("@SMP@", &qemu.smp.to_string())
        .replace("@DEVICES@", &devices)
        .replace("@REDIRECT@", redirections)
        .replace("@KERNEL_ENV@", kernel_env)
        .replace("@STDIN@\n", stdin_block(board))
}

/// Bash words: `s` in single quotes.
fn bash_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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

/// Bash function that adds a `--map` to the shares (both scripts).
const ADD_MAP: &str = r#"# Adds --map's HOST[:GUEST][:ro|:rw] (read as the runner reads it) to the shares.
add_map() {
  local spec=$1 ro=0 host
  case $spec in
    ?*:ro) ro=1; spec=${spec%:ro} ;;
    ?*:rw) spec=${spec%:rw} ;;
  esac
  host=${spec%%:*}
  if [ -z "$host" ] || ! host=$(CDPATH= cd -- "$host" 2>/dev/null && pwd -P); then
    echo "$me: --map $1: no such host directory '${spec%%:*}'" >&2
    exit 125
  fi
  share_dirs+=("$host")
  share_ro+=("$ro")
}
"#;

/// Shares the host directories with the guest, or refuses them on a board without
/// virtio-fs. Runs before the kernel command line is put together.
fn shares_block(board: &Board) -> String {
    let Some(fs) = &board.qemu.virtio_fs else {
        return format!(
            "if [ ${{#share_dirs[@]}} -gt 0 ]; then\n  \
             echo \"$me: board {} cannot give host directories (MAP, --map) to its guest: its kernel has no virtio-fs\" >&2\n  \
             exit 125\nfi\n",
            board.name
        );
    };
    VIRTIO_FS_BLOCK
        .replace("@MMIO@", &fs.runner_option())
        .replace("@MEMORY@", &board.qemu.memory)
}

/// The shell that starts virtiofsd and adds the device (tag `maps`) on the machine's
/// virtio-mmio transport; the runner finds it in the slots `--virtio-fs` names and share
/// k as the share's directory `k`.
const VIRTIO_FS_BLOCK: &str = r#"# Host directories through virtio-fs: virtiofsd serves a staging folder whose k-th entry is
# a bind mount of share k (read-only shares remounted read-only, so the host refuses writes
# whatever the guest does), in a mount namespace of its own. The guest's runner drives the
# device (tag `maps`) itself and finds share k as the directory k of the share.
if [ ${#share_dirs[@]} -gt 0 ]; then
  virtiofsd=${HERMIT_WASM_VIRTIOFSD:-}
  if [ -z "$virtiofsd" ]; then
    for candidate in virtiofsd /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd; do
      if command -v "$candidate" >/dev/null 2>&1; then
        virtiofsd=$(command -v "$candidate")
        break
      fi
    done
  fi
  if [ -z "$virtiofsd" ]; then
    echo "$me: virtiofsd not found (host directories need it): apt-get install virtiofsd, or apt-get install libseccomp-dev libcap-ng-dev && cargo install virtiofsd --locked" >&2
    exit 125
  fi
  if ! command -v unshare >/dev/null 2>&1; then
    echo "$me: unshare not found (host directories need it): apt-get install util-linux" >&2
    exit 125
  fi
  fs_dir=$(mktemp -d "$tmp/hermit-wasm-fs.XXXXXX") || exit 125
  mkdir "$fs_dir/root" || exit 125
  mounts=()
  for k in "${!share_dirs[@]}"; do
    if [ ! -d "${share_dirs[$k]}" ]; then
      echo "$me: host directory '${share_dirs[$k]}' does not exist" >&2
      exit 125
    fi
    mkdir "$fs_dir/root/$k" || exit 125
    mounts+=("${share_dirs[$k]}" "${share_ro[$k]}")
  done
  namespace=(unshare --mount --propagation private)
  [ "$(id -u)" -eq 0 ] || namespace+=(--map-root-user)
  "${namespace[@]}" bash -c '
    set -e
    virtiofsd=$1 root=$2/root sock=$2/sock k=0
    shift 2
    while [ $# -gt 0 ]; do
      mount --bind "$1" "$root/$k"
      [ "$2" = 0 ] || mount -o remount,bind,ro "$root/$k"
      k=$((k + 1))
      shift 2
    done
    exec "$virtiofsd" --shared-dir "$root" --socket-path "$sock" --no-announce-submounts --log-level error
  ' share "$virtiofsd" "$fs_dir" "${mounts[@]}" >>"$log" 2>&1 </dev/null &
  virtiofsd_pid=$!
  tries=0
  until [ -S "$fs_dir/sock" ]; do
    if ! kill -0 "$virtiofsd_pid" 2>/dev/null || [ $tries -ge 200 ]; then
      echo "$me: virtiofsd did not start:" >&2
      cat "$log" >&2
      exit 125
    fi
    tries=$((tries + 1))
    sleep 0.05
  done
  # virtiofsd reads and writes the guest's memory: all of it is a shared memfd.
  fs_qemu=(-object "memory-backend-memfd,id=fsmem,size=@MEMORY@,share=on"
    -machine memory-backend=fsmem -global virtio-mmio.force-legacy=false
    -chardev "socket,id=fs,path=${fs_dir//,/,,}/sock"
    -device vhost-user-fs-device,chardev=fs,tag=maps)
  runner+=(--virtio-fs '@MMIO@')
fi
"#;

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
            .replace("@IMAGE_MAPS@\n", &image_maps(info.maps))
            .replace("@ADD_MAP@\n", ADD_MAP)
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
        maps: &[],
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
        assert!(script.contains("machine='microvm"));
        assert!(script.contains(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf""#));
        assert!(script.contains("isa-debug-exit,iobase=0xf4"));
        assert!(script.contains("apt-get install qemu-system-x86"));
        assert!(script.contains("accel=kvm"), "x86_64-kvm may use KVM");
    }

    #[test]
    fn the_aarch64_script_passes_the_guest_through_guest_loader_and_uses_semihosting() {
        let script = qemu_script(&board("aarch64-virt"), &INFO);
        assert!(script.contains("qemu=qemu-system-aarch64"));
        assert!(script.contains("machine='virt,gic-version=3'"));
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
    fn host_directories_go_through_virtio_fs_on_the_mmio_transport() {
        for (name, slots) in [
            ("x86_64-kvm", "0xfeb00000,0x200,8"),
            ("aarch64-virt", "0xa000000,0x200,32"),
            ("riscv64-virt", "0x10001000,0x1000,8"),
        ] {
            let script = qemu_script(&board(name), &INFO);
            assert!(
                script.contains("memory-backend-memfd,id=fsmem,size=512M,share=on"),
                "{name}"
            );
            assert!(script.contains("-device vhost-user-fs-device,chardev=fs,tag=maps)"));
            assert!(script.contains("virtio-mmio.force-legacy=false"));
            assert!(
                script.contains(&format!("runner+=(--virtio-fs '{slots}')")),
                "{name}"
            );
            assert!(!script.contains("cannot give host directories"), "{name}");
        }
        // The machine stays the board's own: microvm, without QEMU's command-line additions.
        let x86 = qemu_script(&board("x86_64-kvm"), &INFO);
        assert!(x86.contains("auto-kernel-cmdline=off"));
        assert!(!x86.contains("q35"));
    }

    #[test]
    fn image_maps_come_first_and_map_arguments_are_read_as_the_runner_reads_them() {
        let maps = [
            Map {
                host: "/srv/it's here".into(),
                guest: "/srv".into(),
                read_only: true,
            },
            Map {
                host: "/tmp".into(),
                guest: "/t".into(),
                read_only: false,
            },
        ];
        let info = ScriptInfo {
            maps: &maps,
            ..INFO
        };
        let script = qemu_script(&board("x86_64-kvm"), &info);
        let start = script.find("share_dirs=(").unwrap();
        let end = script.find("while [ $# -gt 0 ]").unwrap();
        let dir = std::env::temp_dir().join(format!("hermit-wasm-maps-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let snippet = format!(
            "me=test\n{}for spec; do add_map \"$spec\"; done\nprintf '%s|' \"${{share_dirs[@]}}\" \"${{share_ro[@]}}\"\n",
            &script[start..end]
        );
        let run = |specs: &[&str]| {
            Command::new("bash")
                .arg("-c")
                .arg(&snippet)
                .arg("bash")
                .args(specs)
                .current_dir(&dir)
                .output()
                .unwrap()
        };
        let out = run(&["sub:/data:ro", "sub", "/tmp:/x:rw", "sub:ro"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sub = dir.join("sub").canonicalize().unwrap();
        let sub = sub.display();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("/srv/it's here|/tmp|{sub}|{sub}|/tmp|{sub}|1|0|1|0|0|1|")
        );
        let out = run(&["missing:/data"]);
        assert_eq!(out.status.code(), Some(125));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no such host directory 'missing'"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn module_arguments_are_quoted_for_the_kernel_command_line() {
        // The quoting loop of the template, run by bash on awkward arguments.
        let script = qemu_script(&board("x86_64-kvm"), &INFO);
        let start = script.find("\ncmdline=").unwrap() + 1;
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
