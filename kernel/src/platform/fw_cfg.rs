//! QEMU's firmware configuration device (fw_cfg) on x86 I/O ports, read-only: the launch
//! script hands the module's stdin to the guest as the fw_cfg file `opt/hermit-wasm/stdin`
//! (all of it, so the module sees its end as EOF).

use std::io;

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
const SIGNATURE_KEY: u16 = 0x0000;
const FILE_DIRECTORY_KEY: u16 = 0x0019;
const NAME_LEN: usize = 56;

/// The fw_cfg file the launch scripts put stdin in.
pub const STDIN_FILE: &str = "opt/hermit-wasm/stdin";

fn select(key: u16) {
    // SAFETY: the fw_cfg selector port of QEMU's x86 machines; writing it has no other effect.
    unsafe {
        core::arch::asm!("out dx, ax", in("dx") SELECTOR_PORT, in("ax") key, options(nomem, nostack, preserves_flags))
    };
}

fn read_byte() -> u8 {
    let value: u8;
    // SAFETY: reads the selected item's next byte.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") DATA_PORT, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

fn read_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    bytes.iter_mut().for_each(|b| *b = read_byte());
    bytes
}

/// One fw_cfg file, read from its start.
pub struct File {
    remaining: u32,
}

impl File {
    /// Opens `name`, if the machine has fw_cfg and the file.
    pub fn open(name: &str) -> Option<File> {
        select(SIGNATURE_KEY);
        if &read_bytes::<4>() != b"QEMU" {
            return None;
        }
        select(FILE_DIRECTORY_KEY);
        let count = u32::from_be_bytes(read_bytes());
        let mut found = None;
        for _ in 0..count {
            let size = u32::from_be_bytes(read_bytes());
            let key = u16::from_be_bytes(read_bytes());
            let _reserved: [u8; 2] = read_bytes();
            let raw: [u8; NAME_LEN] = read_bytes();
            let end = raw.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            if found.is_none() && &raw[..end] == name.as_bytes() {
                found = Some((key, size));
            }
        }
        let (key, size) = found?;
        select(key);
        Some(File { remaining: size })
    }
}

impl io::Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.remaining as usize);
        for byte in &mut buf[..n] {
            *byte = read_byte();
        }
        self.remaining -= n as u32;
        Ok(n)
    }
}
