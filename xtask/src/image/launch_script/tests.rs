//! Tests of the launch scripts: the fragments each board's profile picks, the quoting of
//! every value, and the bash copies of the map and limit grammars held to the kernel
//! crate's parsers case by case.

use super::*;
use crate::plan::profile;
use hermit_wasm_kernel::limit_spec;
use hermit_wasm_kernel::map_spec::{self, MapSpec};
use std::path::Path;
use std::process::Command;

fn board(name: &str) -> Board {
    profile::find(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards"),
        name,
    )
    .unwrap()
}

const NO_LIMITS: Limits = Limits {
    memory: None,
    cpu: None,
    wall: None,
    output: None,
    files: None,
    threads: None,
};

const INFO: ScriptInfo = ScriptInfo {
    image: "app",
    module: "app.wasm",
    maps: &[],
    limits: &NO_LIMITS,
    module_sha256: "ab12",
    guest_size: 3 << 20,
    shared_memory: None,
};

/// Runs the bash parser `function` (defined by the template fragment `functions`) on
/// each of `specs`; gives one line per spec: the spec, then the variables `results`
/// names (bash words), `|`-separated, or `refused`.
fn parse_in_bash(functions: &str, function: &str, results: &str, specs: &[&str]) -> String {
    let format = "%s|".repeat(results.split_whitespace().count());
    let snippet = format!(
            "me=test\n{functions}\nfor spec; do\n  if {function} \"$spec\" 2>/dev/null; then\n    \
             printf '%s|{}\\n' \"$spec\" {results}\n  else\n    printf '%s|refused\\n' \"$spec\"\n  \
             fi\ndone\n",
            format.trim_end_matches('|')
        );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&snippet)
        .arg("bash")
        .args(specs)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_bash_limit_parser_agrees_with_the_one_grammar() {
    // Every case of hermit_wasm_kernel::limit_spec's table, through the scripts'
    // parse_limit.
    let script = qemu_script(&board("x86_64-kvm"), &INFO);
    assert!(script.contains(LIMIT_FUNCTIONS.trim_end()));
    let specs: Vec<&str> = limit_spec::CASES.iter().map(|(spec, _)| *spec).collect();
    let got = parse_in_bash(
        LIMIT_FUNCTIONS,
        "parse_limit",
        r#""$limit_name" "$limit_value""#,
        &specs,
    );
    let want: String = limit_spec::CASES
        .iter()
        .map(|(spec, meaning)| match meaning {
            Some((name, value)) => format!("{spec}|{name}|{value}\n"),
            None => format!("{spec}|refused\n"),
        })
        .collect();
    assert_eq!(got, want);
}

/// Runs the scripts' `write_report` over a serial log holding `log`, with the given
/// arguments and `cpu_ms`; returns the report, parsed.
fn report_of(log: &str, args: &str, cpu_ms: &str) -> serde_json::Value {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("hermit-wasm-report-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("log"), log).unwrap();
    // (The fragment sets the report's inputs empty: they are set after it, as the
    // scripts set them as the launch goes.)
    let snippet = format!(
        "me=test report={dir}/report.json module_sha256=ab12\n{REPORT_FUNCTIONS}\n\
             log={dir}/log started_ms=1 wall_ms=250 cpu_ms={cpu_ms}\nwrite_report {args}",
        dir = dir.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&snippet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.ends_with("}\n"), "{text:?}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_report_takes_the_guest_record_or_says_what_the_launcher_saw() {
    // The guest's record, on a console that ends lines with CR LF, after a kernel line
    // and an older record that must not count.
    let record = r#"{"ended":"limit","limit":"output","message":"output limit \"x\"\nmore","peak_memory_bytes":65536,"stdout_bytes":1000,"stderr_bytes":2,"limits_reached":["output"]}"#;
    let log = format!(
        "[0][WARN] something\r\nhermit-wasm: run {{\"ended\":\"exit\",\"limit\":null}}\r\n\
             hermit-wasm: run {record}\r\nhermit-wasm: exit status 153\r\n"
    );
    let report = report_of(&log, "153 exit '' ''", "240");
    assert_eq!(report["status"], 153);
    assert_eq!(
        (report["wall_ms"].clone(), report["cpu_ms"].clone()),
        (250.into(), 240.into())
    );
    assert_eq!(report["module_sha256"], "ab12");
    assert_eq!(report["ended"], "limit");
    assert_eq!(report["limit"], "output");
    assert_eq!(report["message"], "output limit \"x\"\nmore");
    assert_eq!(report["stdout_bytes"], 1000);
    assert_eq!(report["limits_reached"], serde_json::json!(["output"]));

    // No record: the launcher's own account, the guest's counters null.
    let report = report_of(
        "[LOADER] jumping to the guest\n",
        "124 limit wall 'wall limit exceeded: longer than 2s'",
        "2000",
    );
    assert_eq!(report["status"], 124);
    assert_eq!(
        (report["ended"].clone(), report["limit"].clone()),
        ("limit".into(), "wall".into())
    );
    assert_eq!(report["message"], "wall limit exceeded: longer than 2s");
    assert!(report["stdout_bytes"].is_null() && report["peak_memory_bytes"].is_null());
    assert_eq!(report["limits_reached"], serde_json::json!(["wall"]));

    // A signal before QEMU was reaped: no CPU time; a record cut short is not taken.
    let report = report_of(
        "hermit-wasm: run {\"ended\":\"exit\",\"limit\":null,\"message\n",
        "143 signal '' 'stopped by signal 15'",
        "",
    );
    assert_eq!(
        (report["status"].clone(), report["ended"].clone()),
        (143.into(), "signal".into())
    );
    assert!(report["cpu_ms"].is_null() && report["limit"].is_null());
    assert_eq!(report["limits_reached"], serde_json::json!([]));

    // A launch that ended before QEMU started: no times, the exit status.
    let report = {
        let dir = std::env::temp_dir().join(format!("hermit-wasm-early-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let snippet = format!(
            "me=test log= report={}/r.json started_ms= wall_ms= cpu_ms= module_sha256=ab12\n\
                 {REPORT_FUNCTIONS}\ntrap 'report_on_exit $?' EXIT\nexit 125",
            dir.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&snippet)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        let text = std::fs::read_to_string(dir.join("r.json")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(
        (report["status"].clone(), report["ended"].clone()),
        (125.into(), "failure".into())
    );
    assert_eq!(
        (report["wall_ms"].clone(), report["cpu_ms"].clone()),
        (0.into(), serde_json::Value::Null)
    );
}

#[test]
fn what_qemu_takes_is_probed_once_per_build_and_a_bad_cache_is_not_believed() {
    let script = qemu_script(&board("riscv64-virt"), &INFO);
    let start = script.find("\n# Each probe is a QEMU start").unwrap();
    let end = script.find("\n# Temporary files").unwrap();
    let snippet = &script[start..end];
    let dir = std::env::temp_dir().join(format!("hermit-wasm-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    // A QEMU that counts its starts and takes the sandbox, or refuses it (REFUSE), or
    // fails whatever it is asked (BROKEN).
    let fake = dir.join("bin/qemu-fake");
    let fake_text = "#!/bin/bash\necho start >>\"$COUNT\"\n[ -z \"$BROKEN\" ] || exit 1\n\
                         [ -z \"$REFUSE\" ] || [[ \"$*\" != *-sandbox* ]]\n";
    std::fs::write(&fake, fake_text).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake)
        .status()
        .unwrap();
    let run = |qemu: &str| -> (String, usize, String) {
        let count = dir.join("count");
        let _ = std::fs::remove_file(&count);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -u\nme=test qemu=qemu-fake drop_privileges=0\n{snippet}\n\
                     echo \"${{sandbox[*]:-}}\""
            ))
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.join("bin").display()),
            )
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env("COUNT", &count)
            .env("REFUSE", if qemu == "refuses" { "1" } else { "" })
            .env("BROKEN", if qemu == "broken" { "1" } else { "" })
            .output()
            .unwrap();
        let starts = std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (
            stdout,
            starts,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let full = "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
    // A QEMU that fails to start is not an answer: nothing is remembered.
    let (options, starts, stderr) = run("broken");
    assert_eq!((options.as_str(), starts), ("", 2));
    assert!(stderr.contains("no seccomp sandbox"), "{stderr}");
    assert!(
        !dir.join("cache/hermit-wasm").exists()
            || std::fs::read_dir(dir.join("cache/hermit-wasm"))
                .unwrap()
                .next()
                .is_none()
    );
    // Probed once, then taken from the cache.
    let (options, starts, _) = run("takes");
    assert_eq!((options.as_str(), starts), (full, 1));
    let (options, starts, stderr) = run("takes");
    assert_eq!((options.as_str(), starts, stderr.as_str()), (full, 0, ""));
    // A cache that says something no probe says, or nothing, is probed again.
    let cache = std::fs::read_dir(dir.join("cache/hermit-wasm"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for bad in [
        "-no-such-option\n",
        "",
        "\n",
        &format!("{}\n", full.replace(' ', "\n ")),
    ] {
        std::fs::write(&cache, bad).unwrap();
        let (options, starts, _) = run("takes");
        assert_eq!((options.as_str(), starts), (full, 1), "{bad:?}");
    }
    // Another build of QEMU (its size changes) is probed again: this one has no sandbox,
    // which is remembered once it starts without.
    std::fs::write(&fake, format!("{fake_text}# rebuilt\n")).unwrap();
    let (options, starts, stderr) = run("refuses");
    assert_eq!((options.as_str(), starts), ("", 2));
    assert!(stderr.contains("no seccomp sandbox"), "{stderr}");
    let (options, starts, stderr) = run("refuses");
    assert_eq!((options.as_str(), starts), ("", 0));
    assert!(stderr.contains("no seccomp sandbox"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_memory_limit_sizes_the_vm() {
    // RAM = twice the limit's next power of two (MiB) + the overhead, at least the
    // board's floor.
    let vm_memory = |board_name: &str, limit: u64| -> String {
        let script = qemu_script(&board(board_name), &INFO);
        vm_memory_mib(&script, limit).unwrap().to_string()
    };
    // The overhead for a 3 MiB guest: 32 + 2 * 3.
    assert_eq!(memory_overhead_mib(3 << 20), 38);
    assert_eq!(vm_memory("x86_64-kvm", 16 << 20), (2 * 16 + 38).to_string());
    assert_eq!(
        vm_memory("x86_64-kvm", (16 << 20) + 1),
        (2 * 32 + 38).to_string()
    );
    assert_eq!(vm_memory("riscv64-virt", 65536), (2 + 38).to_string());
    assert_eq!(vm_memory("x86_64-kvm", 256 << 20), (512 + 38).to_string());
    // aarch64 finds its guest 8 MiB into RAM: 8 + 3 + 16 at least, less than the
    // overhead.
    assert_eq!(vm_memory("aarch64-virt", 65536), (2 + 38).to_string());
    assert_eq!(
        vm_memory("aarch64-virt", 16 << 20),
        (2 * 16 + 38).to_string()
    );
    // A threads module's shared memory: four times it and the threads' stacks' room, no
    // power of two; the same as the Rust sum the disk script takes.
    let threads = ScriptInfo {
        shared_memory: Some(1 << 30),
        ..INFO
    };
    let script = qemu_script(&board("x86_64-kvm"), &threads);
    assert_eq!(
        vm_memory_mib(&script, 24 << 20).unwrap(),
        4 * (24 + 160) + 38
    );
    for bytes in [24 << 20, 1 << 30, (1 << 30) + 1, 8 << 30] {
        assert_eq!(
            vm_memory_mib(&script, bytes).unwrap(),
            threads_vm_memory_mib(bytes, INFO.guest_size)
        );
    }
    // uhyve's VM gets the same RAM for it; a plain module keeps the profile's.
    let uhyve = uhyve_script(&board("x86_64-kvm"), &threads).unwrap();
    let want = format!("\nmemory='{}M'\n", 4 * (1024 + 160) + 38);
    assert!(uhyve.contains(&want), "{uhyve}");
    let uhyve = uhyve_script(&board("x86_64-kvm"), &INFO).unwrap();
    assert!(uhyve.contains("\nmemory='512M'\n"), "{uhyve}");
}

/// A threads module's VM is sized for its shared memory's capacity, whose addresses the
/// guest reserves whole: a memory limit lowers the guest's budget, not the VM.
#[test]
fn a_threads_modules_vm_is_sized_for_its_shared_memory() {
    let threads = ScriptInfo {
        shared_memory: Some(440 << 20),
        ..INFO
    };
    let script = qemu_script(&board("aarch64-virt"), &threads);
    let sizing = script
        .find("\nif [ \"$shared_memory\" = 1 ]; then")
        .map(|start| &script[start..])
        .and_then(|rest| rest.find("\nfi\n").map(|end| &rest[..end + 4]))
        .expect("the script sizes a threads module's VM");
    let values = script
        .find("\nmemory_overhead=")
        .zip(script.find("\nmodule_sha256="))
        .map(|(start, end)| &script[start + 1..end])
        .unwrap();
    let ram = |limit: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{values}\nshared_memory=1 shared_memory_capacity=$((440 << 20)) \
                 limit_memory={limit} memory=512M\n{LIMIT_FUNCTIONS}\n{sizing}\necho $memory"
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(ram(""), format!("{}M", 4 * (440 + 160) + 38));
    assert_eq!(ram("$((128 << 20))"), format!("{}M", 4 * (440 + 160) + 38));
    assert_eq!(ram("$((2 << 30))"), format!("{}M", 4 * (440 + 160) + 38));
}

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
    assert!(script.contains("qemu='qemu-system-x86_64'"));
    assert!(script.contains("machine='microvm"));
    assert!(script.contains(
            r#"-kernel "$here/loader.elf" -device "loader,file=${here//,/,,}/guest.elf,addr=0x800000,force-raw=on""#
        ));
    assert!(script.contains("\ncmdline=\"hermit-wasm.guest-elf=0x800000 $cmdline\"\nrun=("));
    assert!(script.contains("isa-debug-exit,iobase=0xf4"));
    assert!(script.contains("package='qemu-system-x86'"));
    assert!(script.contains("apt-get install $package"));
    assert!(script.contains("accel=kvm"), "x86_64-kvm may use KVM");
}

#[test]
fn the_aarch64_script_passes_the_guest_through_guest_loader_and_uses_semihosting() {
    let script = qemu_script(&board("aarch64-virt"), &INFO);
    assert!(script.contains("qemu='qemu-system-aarch64'"));
    assert!(script.contains("machine='virt,gic-version=3'"));
    assert!(script.contains("cpu='cortex-a72'"));
    assert!(
        script.contains(r#"-device "guest-loader,addr=0x40800000,initrd=${here//,/,,}/guest.elf""#)
    );
    assert!(script.contains("-semihosting-config enable=on,target=native"));
    assert!(!script.contains("-bios"));
    assert!(!script.contains("accel=kvm"), "no KVM for Arm guests");
    // Semihosting's ":tt" is QEMU's own stdout and stderr: no redirection needed.
    assert!(script.contains(") <&4 4<&- &\n"));
    assert!(!script.contains("exec 3> >(cat)"));
    assert!(script.contains(
        r#"cmdline="env=HERMIT_WASM_PLATFORM=qemu${phases:+ env=HERMIT_WASM_PHASES=1} --""#
    ));
}

#[test]
fn the_riscv64_script_boots_opensbi_and_keeps_its_console_off_stdout() {
    let script = qemu_script(&board("riscv64-virt"), &INFO);
    assert!(script.contains("qemu='qemu-system-riscv64'"));
    assert!(script.contains("-bios 'default'"));
    assert!(script.contains(
            r#"-kernel "$here/loader.elf" -device "guest-loader,addr=0x80800000,initrd=${here//,/,,}/guest.elf""#
        ));
    assert!(script.contains("-semihosting-config enable=on,target=native"));
    // OpenSBI's console (the kernel log) is QEMU's stdout: that goes to the log, the
    // module's stdout to fd 3, a pipe to cat; the status is QEMU's, not cat's.
    assert!(script.contains("exec 3> >(cat)\nstdout_pid=$!\n"));
    assert!(script.contains(") <&4 4<&- >>\"$log\" &\nqemu_pid=$!\n"));
    assert!(script.contains(
            r#"cmdline="env=HERMIT_WASM_PLATFORM=qemu env=HERMIT_WASM_STDOUT=/dev/fd/3${phases:+ env=HERMIT_WASM_PHASES=1} --""#
        ));
}

#[test]
fn a_pvh_board_without_a_guest_address_passes_the_guest_as_initrd() {
    let mut x86 = board("x86_64-kvm");
    x86.qemu.guest_address = None;
    let script = qemu_script(&x86, &INFO);
    assert!(script.contains(r#"-kernel "$here/loader.elf" -initrd "$here/guest.elf""#));
    assert!(script.contains("\ncmdline=\"$cmdline\"\nrun=("));
}

#[test]
fn the_loader_reads_the_guest_elf_word_the_script_writes() {
    let pvh = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/loader/src/arch/x86_64/pvh.rs"),
    )
    .unwrap();
    assert!(
        pvh.contains(&format!(
            "pub const GUEST_ELF_WORD: &str = {GUEST_ELF_WORD:?};"
        )),
        "the loader's GUEST_ELF_WORD differs from the script's"
    );
}

/// `name`'s profile with its stdin by semihosting (no board uses that now; the route
/// is still a profile's choice).
fn semihosting_stdin_board(name: &str) -> Board {
    let mut board = board(name);
    board.qemu.stdin = crate::plan::profile::StdinDevice::SemihostingStream;
    board
}

#[test]
fn stdin_goes_by_virtio_console_or_by_semihosting_as_the_profile_says() {
    for name in ["x86_64-kvm", "aarch64-virt", "riscv64-virt"] {
        let script = qemu_script(&board(name), &INFO);
        assert!(
            script.contains("-device virtserialport,chardev=stdin,name=stdin,nr=1"),
            "{name}"
        );
        assert!(
            script.contains(r#"-chardev "file,id=stdin,path=/dev/null,input-path=$stdin_path""#),
            "{name}"
        );
        assert!(
            script.contains("'env=HERMIT_WASM_STDIN_VIRTIO=$virtio_mmio_slots'"),
            "{name}"
        );
        assert!(!script.contains("HERMIT_WASM_STDIN="), "{name}");
    }
    for name in ["aarch64-virt", "riscv64-virt"] {
        let script = qemu_script(&semihosting_stdin_board(name), &INFO);
        assert!(
            script.contains("'env=HERMIT_WASM_STDIN=/dev/stdin'"),
            "{name}"
        );
        assert!(!script.contains("virtserialport"), "{name}");
    }
}

#[test]
fn virtio_console_boards_hand_qemu_their_stdin_unless_it_is_closed() {
    // The block, run by bash with stdin open and closed: QEMU reads /dev/stdin (its fd
    // 4 until it starts) or /dev/null.
    let script = qemu_script(&board("x86_64-kvm"), &INFO);
    let start = script.find("# The module's stdin").unwrap();
    let end = script[start..].find("\ncmdline=").unwrap() + start + 1;
    let snippet = format!(
        "cmdline='--'\nvirtio_mmio_slots=S\n{}printf '%s\\n' \"${{stdin_qemu[3]}}\"\n\
             [ -e /proc/self/fd/4 ] && echo fd4\n",
        &script[start..end]
    );
    let run = |closed: bool| run_with_stdin(&snippet, closed);
    assert_eq!(
        run(false),
        "file,id=stdin,path=/dev/null,input-path=/dev/stdin\nfd4\n"
    );
    assert_eq!(
        run(true),
        "file,id=stdin,path=/dev/null,input-path=/dev/null\n"
    );
}

#[test]
fn semihosting_boards_stream_stdin_unless_it_is_closed() {
    // The block hands QEMU this script's stdin (fd 4) and names /dev/stdin to the guest;
    // the kernel splits its command line as a shell would (bash's `eval` here).
    for name in ["aarch64-virt", "riscv64-virt"] {
        let script = qemu_script(&semihosting_stdin_board(name), &INFO);
        let start = script.find("# The module's stdin").unwrap();
        let end = script[start..].find("\nfi\n").unwrap() + start + 4;
        let snippet = format!(
            "cmdline='env=A=1 --'\n{}eval \"set -- $cmdline\"\nprintf '%s\\n' \"$@\"\n\
                 [ -e /proc/self/fd/4 ] && echo fd4\n",
            &script[start..end]
        );
        let run = |closed: bool| run_with_stdin(&snippet, closed);
        assert_eq!(
            run(false),
            "env=HERMIT_WASM_STDIN=/dev/stdin\nenv=A=1\n--\nfd4\n",
            "{name}"
        );
        assert_eq!(run(true), "env=A=1\n--\n", "{name}");
        assert!(!script.contains("cat <&0"), "{name} collects nothing");
    }
}

/// What bash prints running `snippet` with its stdin a pipe, or closed.
fn run_with_stdin(snippet: &str, closed: bool) -> String {
    let mut command = Command::new("bash");
    command.arg("-c").arg(if closed {
        format!("exec <&-\n{snippet}")
    } else {
        snippet.to_string()
    });
    command.stdin(std::process::Stdio::piped());
    String::from_utf8(command.output().unwrap().stdout).unwrap()
}

/// Runs bash's parser over a script: a template error fails here, not on a user's machine.
fn bash_syntax_ok(script: &str) {
    // A folder per call: tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("hermit-wasm-script-{}-{call}", std::process::id()));
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
            script.contains("memory-backend-memfd,id=fsmem,size=$memory,share=on"),
            "{name}"
        );
        assert!(script.contains("\nmemory='512M'\n"), "{name}");
        assert!(script.contains("-device vhost-user-fs-device,chardev=fs,tag=maps)"));
        assert!(script.contains("virtio-mmio.force-legacy=false"));
        assert!(
            script.contains(&format!("\nvirtio_mmio_slots='{slots}'\n")),
            "{name}"
        );
        assert!(script.contains("runner+=(--virtio-fs \"$virtio_mmio_slots\")"));
        assert!(!script.contains("cannot give host directories"), "{name}");
    }
    // The machine stays the board's own: microvm, without QEMU's command-line additions.
    let x86 = qemu_script(&board("x86_64-kvm"), &INFO);
    assert!(x86.contains("auto-kernel-cmdline=off"));
    assert!(!x86.contains("q35"));
}

#[test]
fn the_board_says_what_holds_the_guest_ram() {
    for (name, backing) in [
        ("x86_64-kvm", "anonymous"),
        ("aarch64-virt", "memfd"),
        ("riscv64-virt", "anonymous"),
    ] {
        let script = qemu_script(&board(name), &INFO);
        assert!(
            script.contains(&format!("\nram_backing='{backing}'\n")),
            "{name}"
        );
        // One memory backend only: virtio-fs's shared memfd, when there, is the RAM.
        assert!(
            script.contains("if [ \"$ram_backing\" = memfd ] && [ ${#fs_qemu[@]} -eq 0 ]; then")
        );
    }
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
#[test]
fn the_bash_map_parser_agrees_with_the_one_grammar() {
    // Every case of hermit_wasm_kernel::map_spec's table, through the scripts' parse_map.
    let script = qemu_script(&board("x86_64-kvm"), &INFO);
    assert!(script.contains(MAP_FUNCTIONS.trim_end()));
    let specs: Vec<&str> = map_spec::CASES.iter().map(|(spec, _)| *spec).collect();
    let got = parse_in_bash(
        MAP_FUNCTIONS,
        "parse_map",
        r#""$map_host" "$map_guest" "$map_ro""#,
        &specs,
    );
    let want: String = map_spec::CASES
        .iter()
        .map(|(spec, meaning)| match meaning {
            // Bash has no "absent": a missing guest name is the empty string.
            Some((host, guest, ro)) => {
                format!("{spec}|{host}|{}|{}\n", guest.unwrap_or(""), *ro as u8)
            }
            None => format!("{spec}|refused\n"),
        })
        .collect();
    assert_eq!(got, want);
    for (spec, meaning) in map_spec::CASES {
        let rust = MapSpec::parse(spec).ok();
        assert_eq!(rust.is_some(), meaning.is_some(), "{spec:?}");
    }
}

#[test]
fn values_reach_the_script_as_single_words_whatever_they_hold() {
    // A module name is whatever the file was called: quotes, `$(...)`, newlines.
    let module = "it's $(touch /tmp/pwned)\nrm -rf ~ `x` \"y\"";
    let info = ScriptInfo { module, ..INFO };
    let script = qemu_script(&board("x86_64-kvm"), &info);
    bash_syntax_ok(&script);
    let start = script.find("\nimage=").unwrap() + 1;
    let end = script.find("\nhere=").unwrap();
    let snippet = format!("{}\nprintf '%s' \"$module\"", &script[start..end]);
    let out = Command::new("bash")
        .arg("-c")
        .arg(&snippet)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), module);
}

#[test]
fn the_scripts_tell_the_runner_which_streams_are_terminals() {
    // The detection block with stdin a pipe, stdout a pipe and stderr /dev/null: none
    // is a terminal, so the runner hears of none (the end-to-end tests try a terminal).
    let script = qemu_script(&board("aarch64-virt"), &INFO);
    let start = script.find("\nterminals=").unwrap() + 1;
    let end = script.find("# Host directories to share").unwrap();
    let snippet = format!(
        "runner=()\n{}printf '%s ' \"${{runner[@]}}\"",
        &script[start..end]
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&snippet)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), " ");
    for name in ["x86_64-kvm", "riscv64-virt"] {
        assert!(qemu_script(&board(name), &INFO).contains(&script[start..end]));
    }
    let uhyve = uhyve_script(&board("x86_64-kvm"), &INFO).unwrap();
    assert!(uhyve.contains("runner+=(--terminals \"$terminals\")"));
}

/// Each board's generated launch scripts, whole, against the snapshots kept beside this
/// file (`snapshots/BOARD.run-qemu.sh`, `BOARD.run-uhyve.sh`, `BOARD.run-disk.sh`): a
/// change to a template or a profile shows in review as a change of what every board runs.
/// `UPDATE_SNAPSHOTS=1 cargo test -p xtask snapshots` writes them anew.
#[test]
fn each_boards_scripts_match_their_snapshots() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/image/launch_script/snapshots");
    let boards =
        profile::load_all(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")).unwrap();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    let mut expected = std::collections::BTreeSet::new();
    for (name, board) in &boards {
        let disk = board.disk.as_ref().map(|disk| {
            let (image, sha) = (INFO.image, INFO.module_sha256);
            crate::disk::disk_script(board, disk, image, sha, &board.qemu.memory)
        });
        let scripts = [
            ("run-qemu.sh", Some(qemu_script(board, &INFO))),
            ("run-uhyve.sh", uhyve_script(board, &INFO)),
            ("run-disk.sh", disk),
        ];
        for (script, text) in scripts {
            let Some(text) = text else { continue };
            let file = format!("{name}.{script}");
            let path = here.join(&file);
            expected.insert(file.clone());
            let kept = std::fs::read_to_string(&path).unwrap_or_default();
            if kept == text {
                continue;
            }
            if update {
                std::fs::create_dir_all(&here).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let diff = similar::TextDiff::from_lines(&kept, &text)
                .unified_diff()
                .context_radius(2)
                .header(&format!("{file} (kept)"), &format!("{file} (generated)"))
                .to_string();
            stale.push(diff);
        }
    }
    // A snapshot of a board or script that is no longer generated is stale too.
    for entry in std::fs::read_dir(&here).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if !expected.contains(&file) {
            if update {
                std::fs::remove_file(entry.path()).unwrap();
            } else {
                stale.push(format!("{file}: no board generates it\n"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the launch scripts differ from their snapshots (review, then \
         `UPDATE_SNAPSHOTS=1 cargo test -p xtask snapshots`):\n{}",
        stale.join("\n")
    );
}
