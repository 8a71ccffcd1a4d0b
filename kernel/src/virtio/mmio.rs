//! The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): a device's registers
//! at a physical address the guest has mapped as device memory, its queues handed over
//! by physical address, no interrupts (the driver polls).

use core::ptr;

use anyhow::{bail, Result};

use super::queue::SplitQueue;

const MAGIC: u32 = 0x7472_6976; // "virt"
/// The configuration space the smallest register window (0x200 bytes) leaves.
const CONFIG_SPAN: usize = 0x100;

/// Register offsets.
mod reg {
    pub const MAGIC: usize = 0x000;
    pub const VERSION: usize = 0x004;
    pub const DEVICE_ID: usize = 0x008;
    pub const DEVICE_FEATURES: usize = 0x010;
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    pub const DRIVER_FEATURES: usize = 0x020;
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    pub const QUEUE_SEL: usize = 0x030;
    pub const QUEUE_NUM_MAX: usize = 0x034;
    pub const QUEUE_NUM: usize = 0x038;
    pub const QUEUE_READY: usize = 0x044;
    pub const QUEUE_NOTIFY: usize = 0x050;
    pub const STATUS: usize = 0x070;
    pub const QUEUE_DESC_LOW: usize = 0x080;
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    pub const CONFIG: usize = 0x100;
}

/// Device status bits.
mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const FAILED: u32 = 128;
}

/// `VIRTIO_F_VERSION_1`, feature bit 32: always accepted (device classes may add theirs).
const FEATURE_VERSION_1_HIGH: u32 = 1 << 0;

/// One virtio-mmio register window.
#[derive(Debug)]
pub struct MmioDevice {
    base: *mut u8,
}

// SAFETY: the registers belong to this driver alone.
unsafe impl Send for MmioDevice {}

impl MmioDevice {
    /// The device at `base`, if a virtio-mmio version 2 device with an id is there.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a virtio-mmio register window, mapped as device
    /// memory, that no other driver uses.
    pub unsafe fn probe(base: usize) -> Option<MmioDevice> {
        let device = MmioDevice {
            base: base as *mut u8,
        };
        if device.read(reg::MAGIC) != MAGIC || device.read(reg::DEVICE_ID) == 0 {
            return None;
        }
        Some(device)
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `offset` is a register inside the window `probe` vouched for.
        unsafe { ptr::read_volatile(self.base.add(offset).cast::<u32>()) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { ptr::write_volatile(self.base.add(offset).cast::<u32>(), value) }
    }

    pub fn version(&self) -> u32 {
        self.read(reg::VERSION)
    }

    pub fn device_id(&self) -> u32 {
        self.read(reg::DEVICE_ID)
    }

    /// A byte of the device-specific configuration (which lies in the window's second
    /// 0x100 bytes; offsets beyond panic).
    pub fn config_u8(&self, offset: usize) -> u8 {
        assert!(
            offset < CONFIG_SPAN,
            "configuration offset {offset:#x} out of range"
        );
        // SAFETY: as in `read`; configuration space follows the registers.
        unsafe { ptr::read_volatile(self.base.add(reg::CONFIG + offset)) }
    }

    /// A 32-bit field of the device-specific configuration (offsets beyond it panic).
    pub fn config_u32(&self, offset: usize) -> u32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= CONFIG_SPAN,
            "configuration offset {offset:#x} out of range"
        );
        self.read(reg::CONFIG + offset)
    }

    /// Resets the device and negotiates features (only `VIRTIO_F_VERSION_1`).
    pub fn begin(&self) -> Result<()> {
        self.begin_with(0).map(|_| ())
    }

    /// Resets the device and negotiates `VIRTIO_F_VERSION_1` and those of the feature bits
    /// 0..32 in `wanted` that the device offers; returns the latter.
    pub fn begin_with(&self, wanted: u32) -> Result<u32> {
        if self.version() != 2 {
            bail!(
                "virtio-mmio version {} (legacy); QEMU needs -global virtio-mmio.force-legacy=false",
                self.version()
            );
        }
        self.write(reg::STATUS, 0);
        self.write(reg::STATUS, status::ACKNOWLEDGE);
        self.write(reg::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.write(reg::DEVICE_FEATURES_SEL, 1);
        if self.read(reg::DEVICE_FEATURES) & FEATURE_VERSION_1_HIGH == 0 {
            self.write(reg::STATUS, status::FAILED);
            bail!("the device does not offer VIRTIO_F_VERSION_1");
        }
        self.write(reg::DEVICE_FEATURES_SEL, 0);
        let accepted = self.read(reg::DEVICE_FEATURES) & wanted;
        self.write(reg::DRIVER_FEATURES_SEL, 0);
        self.write(reg::DRIVER_FEATURES, accepted);
        self.write(reg::DRIVER_FEATURES_SEL, 1);
        self.write(reg::DRIVER_FEATURES, FEATURE_VERSION_1_HIGH);
        let negotiated = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.write(reg::STATUS, negotiated);
        if self.read(reg::STATUS) & status::FEATURES_OK == 0 {
            self.write(reg::STATUS, status::FAILED);
            bail!("the device refused our features");
        }
        Ok(accepted)
    }

    /// The most entries queue `index` may have (0: the queue does not exist).
    pub fn queue_max(&self, index: u32) -> u16 {
        self.write(reg::QUEUE_SEL, index);
        self.read(reg::QUEUE_NUM_MAX).min(u32::from(u16::MAX)) as u16
    }

    /// Hands queue `index` to the device.
    pub fn set_queue(&self, index: u32, queue: &SplitQueue) {
        let (desc, driver, device) = queue.addresses();
        self.write(reg::QUEUE_SEL, index);
        self.write(reg::QUEUE_NUM, u32::from(queue.size()));
        self.write(reg::QUEUE_DESC_LOW, desc as u32);
        self.write(reg::QUEUE_DESC_HIGH, (desc >> 32) as u32);
        self.write(reg::QUEUE_DRIVER_LOW, driver as u32);
        self.write(reg::QUEUE_DRIVER_HIGH, (driver >> 32) as u32);
        self.write(reg::QUEUE_DEVICE_LOW, device as u32);
        self.write(reg::QUEUE_DEVICE_HIGH, (device >> 32) as u32);
        self.write(reg::QUEUE_READY, 1);
    }

    /// Tells the device the driver is ready.
    pub fn finish(&self) {
        let ready = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK;
        self.write(reg::STATUS, ready);
    }

    /// Tells the device that queue `index` has new buffers.
    pub fn notify(&self, index: u32) {
        io_barrier();
        self.write(reg::QUEUE_NOTIFY, index);
    }
}

/// Orders the driver's memory writes before a register write.
fn io_barrier() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier instruction only.
    unsafe {
        core::arch::asm!("dsb sy", options(nostack, preserves_flags))
    };
    #[cfg(target_arch = "riscv64")]
    // SAFETY: a fence instruction only.
    unsafe {
        core::arch::asm!("fence iorw, iorw", options(nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}
