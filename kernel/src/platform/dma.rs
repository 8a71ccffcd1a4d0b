//! The DMA window: RAM our loader set aside right below the guest image for drivers that
//! hand physical addresses to devices (the queues and buffers of virtio-fs and of the
//! console). The kernel never allocates it, and it is identity-mapped, so its virtual
//! addresses are its physical ones. Drivers take pieces of it front to back ([`take`]);
//! nothing is ever given back (each driver lives as long as the guest).
//!
//! The loader (`boards/loader/src/dma_window.rs`) leaves a 32-byte header in the window's
//! last bytes, right below the image's first byte: `HWDMAWIN`, then the window's start, its
//! size and the layout version (little-endian `u64`s). Without that header (an image booted
//! by another loader, e.g. uhyve) there is no window, and drivers that need one fail.

use std::sync::Mutex;

use anyhow::{bail, Result};

const MAGIC: [u8; 8] = *b"HWDMAWIN";
const VERSION: u64 = 1;
const HEADER_SIZE: usize = 32;

extern "C" {
    /// The kernel's system call: where the guest image starts.
    fn sys_image_start_addr() -> usize;
}

/// The window's memory not handed out yet.
#[derive(Debug)]
struct DmaWindow {
    next: usize,
    end: usize,
}

/// A piece of the window: `addr` is both its virtual and its physical address.
#[derive(Clone, Copy, Debug)]
pub struct DmaSlice {
    pub addr: usize,
    pub len: usize,
}

/// The window, found on first use.
static WINDOW: Mutex<Option<DmaWindow>> = Mutex::new(None);

/// `len` bytes of the window aligned to `align` (a power of two), for good.
pub fn take(len: usize, align: usize) -> Result<DmaSlice> {
    let mut window = WINDOW
        .lock()
        .map_err(|_| anyhow::anyhow!("the DMA window's lock"))?;
    if window.is_none() {
        *window = Some(find()?);
    }
    window.as_mut().expect("found above").take(len, align)
}

/// The window the loader announced below the guest image.
fn find() -> Result<DmaWindow> {
    // SAFETY: a system call without arguments.
    let image = unsafe { sys_image_start_addr() };
    let header_at = image - HEADER_SIZE;
    let mut header = [0u8; HEADER_SIZE];
    // SAFETY: the memory below the image is identity-mapped RAM on every board our loader
    // boots (this is only called when the launch script says it used that loader).
    unsafe {
        std::ptr::copy_nonoverlapping(header_at as *const u8, header.as_mut_ptr(), HEADER_SIZE)
    };
    let word = |i: usize| u64::from_le_bytes(header[8 * i..8 * i + 8].try_into().unwrap());
    if header[..8] != MAGIC || word(3) != VERSION {
        bail!(
            "no DMA window below the guest image at {image:#x}: the image was not booted by \
             the Hermit-WASM loader (or by an older one)"
        );
    }
    let (start, size) = (word(1) as usize, word(2) as usize);
    if start.checked_add(size) != Some(image) || size < 2 * HEADER_SIZE {
        bail!("the DMA window header below {image:#x} is inconsistent ({start:#x}+{size:#x})");
    }
    Ok(DmaWindow {
        next: start,
        end: header_at,
    })
}

impl DmaWindow {
    /// `len` bytes aligned to `align` (a power of two).
    fn take(&mut self, len: usize, align: usize) -> Result<DmaSlice> {
        let addr = self.next.next_multiple_of(align);
        match addr.checked_add(len) {
            Some(end) if end <= self.end => {
                self.next = end;
                Ok(DmaSlice { addr, len })
            }
            _ => bail!(
                "the DMA window has no room for {len} more bytes ({} left)",
                self.end.saturating_sub(addr)
            ),
        }
    }
}
