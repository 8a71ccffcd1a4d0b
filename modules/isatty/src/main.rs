//! `isatty`: prints, for fds 0, 1 and 2, one line
//! `fd N: filetype F rights_base 0x.. rights_inheriting 0x.. flags F terminal yes|no`,
//! the first four from `fd_fdstat_get` and `terminal` from std's `IsTerminal`. Tests that
//! the standard streams are reported as Wasmtime reports them: a character device with
//! read (stdin) or write (stdout, stderr) rights when the host stream is a terminal, an
//! unknown file type otherwise. Exits 0.

use std::io::IsTerminal;

/// `$fdstat`, as `fd_fdstat_get` writes it.
#[repr(C)]
#[derive(Default)]
struct Fdstat {
    filetype: u8,
    flags: u16,
    rights_base: u64,
    rights_inheriting: u64,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_fdstat_get(fd: u32, stat: *mut Fdstat) -> u16;
}

fn main() {
    let terminal = [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    for (fd, terminal) in (0u32..).zip(terminal) {
        let terminal = if terminal { "yes" } else { "no" };
        let mut stat = Fdstat::default();
        // SAFETY: `stat` has the layout of a `$fdstat`.
        match unsafe { fd_fdstat_get(fd, &mut stat) } {
            0 => println!(
                "fd {fd}: filetype {} rights_base {:#x} rights_inheriting {:#x} flags {} terminal {terminal}",
                stat.filetype, stat.rights_base, stat.rights_inheriting, stat.flags
            ),
            errno => println!("fd {fd}: errno {errno} terminal {terminal}"),
        }
    }
}
