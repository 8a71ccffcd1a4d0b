//! The virtio-fs device through which the QEMU launch script shares the host directories:
//! found among the board's virtio-mmio slots by its tag, driven by polling with its queues
//! and buffers in the [DMA window](super::dma), and spoken to with our FUSE client.
//!
//! Queue 0 (high priority) carries only `BATCH_FORGET`; queue 1 carries every other
//! request, one at a time: the request in one device-readable buffer, the reply in one
//! device-writable buffer.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{device_memory, dma};
use crate::fuse::{Channel, Session};
use crate::launch::MmioSlots;
use crate::virtio::mmio::MmioDevice;
use crate::virtio::queue::{Buffer, SplitQueue};
use crate::wasi::fuse_fs::FuseFs;
use crate::wasi::vfs::FileSystem;

/// The tag the launch script gives the device (`vhost-user-fs-device,tag=…`).
pub const TAG: &str = "maps";

const DEVICE_ID_FS: u32 = 26;
/// Device configuration: the tag (36 bytes, NUL-padded), then the number of request queues.
const CONFIG_TAG_LEN: usize = 36;
const CONFIG_REQUEST_QUEUES: usize = 36;

const HIPRIO_QUEUE: u32 = 0;
const REQUEST_QUEUE: u32 = 1;
const QUEUE_SIZE: u16 = 4;
/// Data bytes one request or reply carries at most, beyond its headers.
const IO_SIZE: usize = 256 * 1024;
const HEADROOM: usize = 4096;
/// How long a request may go unanswered before the runner gives up on the device.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Finds the device in `slots`, sets it up and opens a FUSE session on it.
pub fn connect(slots: MmioSlots) -> Result<Arc<dyn FileSystem>> {
    // SAFETY: the launch script names the board's virtio-mmio register windows, which hold
    // nothing but device registers.
    unsafe { device_memory::map(slots.span()) }.context("mapping the virtio-mmio slots")?;
    let device = find(slots)?;
    device.begin()?;
    if device.config_u32(CONFIG_REQUEST_QUEUES) == 0 {
        bail!("the virtio-fs device offers no request queue");
    }
    let queue = |index: u32| -> Result<SplitQueue> {
        let max = device.queue_max(index);
        if max == 0 {
            bail!("the virtio-fs device has no queue {index}");
        }
        let size = QUEUE_SIZE.min(1 << (15 - max.leading_zeros().min(15)));
        let memory = dma::take(SplitQueue::bytes(size), 4096)?;
        // SAFETY: the slice is ours alone, identity-mapped (virtual = physical).
        let queue = unsafe { SplitQueue::new(memory.addr as *mut u8, memory.addr as u64, size) };
        device.set_queue(index, &queue);
        Ok(queue)
    };
    let hiprio = queue(HIPRIO_QUEUE)?;
    let requests = queue(REQUEST_QUEUE)?;
    let forget_buffer = dma::take(HEADROOM * 4, 4096)?;
    let request_buffer = dma::take(HEADROOM + IO_SIZE, 4096)?;
    let reply_buffer = dma::take(HEADROOM + IO_SIZE, 4096)?;
    device.finish();
    let channel = VirtioFsChannel {
        broken: false,
        device,
        hiprio,
        requests,
        forget_buffer,
        request_buffer,
        reply_buffer,
    };
    let session = Session::init(Box::new(channel)).context("starting the FUSE session")?;
    Ok(Arc::new(FuseFs::new(session)))
}

/// The virtio-fs device tagged [`TAG`].
fn find(slots: MmioSlots) -> Result<MmioDevice> {
    let mut seen = Vec::new();
    for i in 0..u64::from(slots.count) {
        let base = slots.base + i * slots.stride;
        // SAFETY: a register window of the board's virtio-mmio transport, mapped above.
        let Some(device) = (unsafe { MmioDevice::probe(base as usize) }) else {
            continue;
        };
        if device.device_id() != DEVICE_ID_FS {
            continue;
        }
        let tag: Vec<u8> = (0..CONFIG_TAG_LEN)
            .map(|k| device.config_u8(k))
            .take_while(|&b| b != 0)
            .collect();
        let tag = String::from_utf8_lossy(&tag).into_owned();
        if tag == TAG {
            return Ok(device);
        }
        seen.push(tag);
    }
    bail!(
        "no virtio-fs device tagged {TAG:?} in the {} virtio-mmio slots from {:#x} (found \
         {seen:?}); the launch script starts one when there are maps",
        slots.count,
        slots.base
    )
}

/// FUSE over the device's queues.
struct VirtioFsChannel {
    /// Set when a request went unanswered: the device may still own its buffers, so none
    /// is reused and every later request fails at once.
    broken: bool,
    device: MmioDevice,
    hiprio: SplitQueue,
    requests: SplitQueue,
    forget_buffer: dma::DmaSlice,
    request_buffer: dma::DmaSlice,
    reply_buffer: dma::DmaSlice,
}

impl VirtioFsChannel {
    /// Refuses to go on after a request went unanswered.
    fn check(&self) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the virtio-fs device stopped answering earlier",
            ));
        }
        Ok(())
    }

    /// Waits for the chain just submitted to `queue`; the bytes the device wrote.
    fn wait(
        device: &MmioDevice,
        queue: &mut SplitQueue,
        index: u32,
        broken: &mut bool,
    ) -> io::Result<u32> {
        device.notify(index);
        let start = Instant::now();
        loop {
            if let Some((_, len)) = queue.take_used() {
                return Ok(len);
            }
            if start.elapsed() > REPLY_TIMEOUT {
                *broken = true;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the virtio-fs device did not answer (is virtiofsd still running?)",
                ));
            }
            std::hint::spin_loop();
        }
    }
}

fn copy_in(slice: &dma::DmaSlice, bytes: &[u8]) -> io::Result<u32> {
    if bytes.len() > slice.len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "FUSE request larger than its buffer",
        ));
    }
    // SAFETY: the slice is ours, identity-mapped, and at least `bytes.len()` long.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), slice.addr as *mut u8, bytes.len()) };
    Ok(bytes.len() as u32)
}

impl Channel for VirtioFsChannel {
    fn request_capacity(&self) -> usize {
        self.request_buffer.len
    }

    fn reply_capacity(&self) -> usize {
        self.reply_buffer.len
    }

    fn call(&mut self, request: &[u8], reply_len: usize) -> io::Result<Vec<u8>> {
        self.check()?;
        let len = copy_in(&self.request_buffer, request)?;
        // SAFETY: both buffers are ours, in the DMA window, and not touched until the
        // device gives them back.
        unsafe {
            self.requests.submit(&[
                Buffer {
                    phys: self.request_buffer.addr as u64,
                    len,
                    device_writes: false,
                },
                Buffer {
                    phys: self.reply_buffer.addr as u64,
                    len: reply_len.min(self.reply_buffer.len) as u32,
                    device_writes: true,
                },
            ])
        };
        let written = Self::wait(
            &self.device,
            &mut self.requests,
            REQUEST_QUEUE,
            &mut self.broken,
        )? as usize;
        let written = written.min(self.reply_buffer.len);
        let mut reply = vec![0u8; written];
        // SAFETY: the device wrote `written` bytes of the reply buffer, which is ours.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.reply_buffer.addr as *const u8,
                reply.as_mut_ptr(),
                written,
            )
        };
        Ok(reply)
    }

    fn post_capacity(&self) -> usize {
        self.forget_buffer.len
    }

    fn post(&mut self, request: &[u8]) -> io::Result<()> {
        self.check()?;
        let len = copy_in(&self.forget_buffer, request)?;
        // SAFETY: as in `call`.
        unsafe {
            self.hiprio.submit(&[Buffer {
                phys: self.forget_buffer.addr as u64,
                len,
                device_writes: false,
            }])
        };
        Self::wait(
            &self.device,
            &mut self.hiprio,
            HIPRIO_QUEUE,
            &mut self.broken,
        )
        .map(drop)
    }
}
