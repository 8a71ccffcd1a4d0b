//! The module's stdin as a stream on boards without semihosting (x86_64): a virtio console
//! with the multiport feature, whose port [`PORT`] QEMU backs with the launcher's own stdin
//! (`-chardev file,input-path=/dev/stdin` + `virtserialport,nr=1`). Data arrives as the
//! launcher's stdin has it; when that reaches its end QEMU closes the port (a `PORT_OPEN`
//! 0 control message), which is EOF here once the data before it has been read.
//!
//! Found among the board's virtio-mmio slots (the launch script names them in the kernel's
//! environment, [`STDIN_VAR`]), driven by polling with its queues and buffers in the
//! [DMA window](super::dma), connected on the first read.

use std::io;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{device_memory, dma};
use crate::launch::MmioSlots;
use crate::virtio::console::{self, Control, Port};
use crate::virtio::mmio::MmioDevice;
use crate::virtio::queue::{Buffer, SplitQueue};

/// The kernel environment variable that names the slots (`BASE,STRIDE,COUNT`).
pub const STDIN_VAR: &str = "HERMIT_WASM_STDIN_VIRTIO";
/// The port the launch script puts stdin on.
pub const PORT: u32 = 1;
/// Buffers posted at once on each receive queue, and the bytes of each.
const BUFFERS: u16 = 4;
const DATA_BUFFER: usize = 4096;
const CONTROL_BUFFER: usize = 128;
/// How long the device may take to take a control message.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Stdin through the console: connected on first use.
pub struct VirtioStdin {
    slots: MmioSlots,
    state: Option<Connected>,
    /// Set when connecting failed: every read fails the same way.
    failed: Option<String>,
}

impl VirtioStdin {
    /// The stream the launch script announced, if it announced one.
    pub fn from_env() -> Option<VirtioStdin> {
        let slots = MmioSlots::parse(&std::env::var(STDIN_VAR).ok()?).ok()?;
        Some(VirtioStdin {
            slots,
            state: None,
            failed: None,
        })
    }
}

impl io::Read for VirtioStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(io::Error::other(err.clone()));
        }
        if self.state.is_none() {
            match Connected::connect(self.slots) {
                Ok(connected) => self.state = Some(connected),
                Err(err) => {
                    let err = format!("stdin (virtio console): {err:#}");
                    self.failed = Some(err.clone());
                    return Err(io::Error::other(err));
                }
            }
        }
        let state = self.state.as_mut().expect("connected above");
        state
            .read(buf)
            .map_err(|err| io::Error::other(format!("{err:#}")))
    }
}

/// A set-up device and where the conversation with it stands.
struct Connected {
    device: MmioDevice,
    port: Port,
    control_rx: SplitQueue,
    control_tx: SplitQueue,
    data_rx: SplitQueue,
    control_buffers: dma::DmaSlice,
    send_buffer: dma::DmaSlice,
    data_buffers: dma::DmaSlice,
    /// Data received and not yet handed out.
    pending: Vec<u8>,
    taken: usize,
}

impl Connected {
    fn connect(slots: MmioSlots) -> Result<Connected> {
        // SAFETY: the launch script names the board's virtio-mmio register windows, which
        // hold nothing but device registers.
        unsafe { device_memory::map(slots.span()) }.context("mapping the virtio-mmio slots")?;
        let device = find(slots)?;
        if device.begin_with(console::F_MULTIPORT)? & console::F_MULTIPORT == 0 {
            bail!("the console device does not offer ports (VIRTIO_CONSOLE_F_MULTIPORT)");
        }
        if device.config_u32(console::CONFIG_MAX_PORTS) <= PORT {
            bail!("the console device has no port {PORT}");
        }
        let queue = |index: u32| -> Result<SplitQueue> {
            let max = device.queue_max(index);
            if max < BUFFERS {
                bail!("the console device's queue {index} is missing or too small ({max})");
            }
            let memory = dma::take(SplitQueue::bytes(BUFFERS), 4096)?;
            // SAFETY: the slice is ours alone, identity-mapped (virtual = physical).
            let queue =
                unsafe { SplitQueue::new(memory.addr as *mut u8, memory.addr as u64, BUFFERS) };
            device.set_queue(index, &queue);
            Ok(queue)
        };
        let control_rx = queue(console::CONTROL_RX)?;
        let control_tx = queue(console::CONTROL_TX)?;
        let data_rx = queue(console::receive_queue(PORT))?;
        let mut connected = Connected {
            control_buffers: dma::take(CONTROL_BUFFER * BUFFERS as usize, 64)?,
            send_buffer: dma::take(Control::SIZE, 64)?,
            data_buffers: dma::take(DATA_BUFFER * BUFFERS as usize, 4096)?,
            device,
            port: Port::new(PORT),
            control_rx,
            control_tx,
            data_rx,
            pending: Vec::new(),
            taken: 0,
        };
        connected.device.finish();
        // The device drops control messages it has no buffer for: post them all first.
        for slot in 0..BUFFERS {
            connected.post_control(slot);
            connected.post_data(slot);
        }
        connected.device.notify(console::CONTROL_RX);
        connected.device.notify(console::receive_queue(PORT));
        connected.send(Port::start())?;
        Ok(connected)
    }

    /// Hands control buffer `slot` (back) to the device.
    fn post_control(&mut self, slot: u16) {
        let buffer = Buffer {
            phys: (self.control_buffers.addr + CONTROL_BUFFER * slot as usize) as u64,
            len: CONTROL_BUFFER as u32,
            device_writes: true,
        };
        // SAFETY: the buffer is ours, in the DMA window, and was returned by the device (or
        // never given); this queue only takes posted buffers.
        unsafe { self.control_rx.post(slot, buffer) };
    }

    /// Hands data buffer `slot` (back) to the device.
    fn post_data(&mut self, slot: u16) {
        let buffer = Buffer {
            phys: (self.data_buffers.addr + DATA_BUFFER * slot as usize) as u64,
            len: DATA_BUFFER as u32,
            device_writes: true,
        };
        // SAFETY: as in `post_control`.
        unsafe { self.data_rx.post(slot, buffer) };
    }

    /// Sends one control message and waits until the device has taken it.
    fn send(&mut self, message: Control) -> Result<()> {
        let bytes = message.encode();
        // SAFETY: the send buffer is ours, in the DMA window, and not with the device (the
        // previous message came back before this one).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.send_buffer.addr as *mut u8,
                bytes.len(),
            );
            self.control_tx.submit(&[Buffer {
                phys: self.send_buffer.addr as u64,
                len: bytes.len() as u32,
                device_writes: false,
            }]);
        }
        self.device.notify(console::CONTROL_TX);
        let start = Instant::now();
        while self.control_tx.take_used().is_none() {
            if start.elapsed() > SEND_TIMEOUT {
                bail!("the console device did not take a control message in {SEND_TIMEOUT:?}");
            }
            std::hint::spin_loop();
        }
        Ok(())
    }

    /// Takes what the device returned: control messages (answered), then data.
    fn poll(&mut self) -> Result<()> {
        while let Some((slot, len)) = self.control_rx.take_used() {
            let slot = slot as u16;
            let start = self.control_buffers.addr + CONTROL_BUFFER * slot as usize;
            let len = (len as usize).min(CONTROL_BUFFER);
            // SAFETY: the device returned the buffer and wrote `len` bytes of it.
            let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
            let message = Control::decode(bytes);
            self.post_control(slot);
            self.device.notify(console::CONTROL_RX);
            if let Some(message) = message {
                for answer in self.port.on_control(message) {
                    self.send(answer)?;
                }
            }
        }
        if self.taken == self.pending.len() {
            self.pending.clear();
            self.taken = 0;
        }
        while let Some((slot, len)) = self.data_rx.take_used() {
            let slot = slot as u16;
            let start = self.data_buffers.addr + DATA_BUFFER * slot as usize;
            let len = (len as usize).min(DATA_BUFFER);
            // SAFETY: the device returned the buffer and wrote `len` bytes of it.
            let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
            self.pending.extend_from_slice(bytes);
            self.post_data(slot);
            self.device.notify(console::receive_queue(PORT));
        }
        Ok(())
    }

    /// Blocks until there is data (returns some) or the port is closed (returns 0).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.poll()?;
            if self.taken < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.taken);
                buf[..n].copy_from_slice(&self.pending[self.taken..self.taken + n]);
                self.taken += n;
                return Ok(n);
            }
            if self.port.at_end() {
                // Data the device returned before it said so was taken by the poll above.
                return Ok(0);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The console device among `slots`.
fn find(slots: MmioSlots) -> Result<MmioDevice> {
    for i in 0..u64::from(slots.count) {
        let base = slots.base + i * slots.stride;
        // SAFETY: a register window of the board's virtio-mmio transport, mapped above.
        if let Some(device) = unsafe { MmioDevice::probe(base as usize) } {
            if device.device_id() == console::DEVICE_ID {
                return Ok(device);
            }
        }
    }
    bail!(
        "no virtio console in the {} virtio-mmio slots from {:#x}; the launch script adds \
         one for stdin",
        slots.count,
        slots.base
    )
}
