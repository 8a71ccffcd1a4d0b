//! A split virtqueue (virtio 1.x, section 2.7) driven by polling: the descriptor table,
//! the driver's available ring and the device's used ring, laid out in memory whose
//! physical address the device is told.
//!
//! A queue either carries one request at a time (`submit`: a chain in the first
//! descriptors, polled for until it comes back), or single buffers the device fills when it
//! has something to say (`post`: each in a descriptor of its own, several at once, as the
//! console's receive queues need).

use core::ptr;
use core::sync::atomic::{fence, Ordering};

/// Descriptor flags.
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;
/// `VIRTQ_AVAIL_F_NO_INTERRUPT`: we poll, the device need not interrupt.
const AVAIL_NO_INTERRUPT: u16 = 1;

const DESC_SIZE: usize = 16;

/// One buffer of a chain: where it is (physical) and whether the device writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub phys: u64,
    pub len: u32,
    pub device_writes: bool,
}

/// A queue of `size` entries in memory the driver owns.
#[derive(Debug)]
pub struct SplitQueue {
    /// Virtual address of the descriptor table; the rings follow it.
    mem: *mut u8,
    /// Physical address of `mem`.
    phys: u64,
    size: u16,
    next_avail: u16,
    last_used: u16,
}

// SAFETY: the queue's memory belongs to it alone (and to the device).
unsafe impl Send for SplitQueue {}

impl SplitQueue {
    /// Bytes a queue of `size` entries takes (descriptors, available ring, used ring).
    pub const fn bytes(size: u16) -> usize {
        Self::used_offset(size) + 6 + 8 * size as usize
    }

    const fn used_offset(size: u16) -> usize {
        let avail_end = DESC_SIZE * size as usize + 6 + 2 * size as usize;
        (avail_end + 3) & !3
    }

    /// Lays out an empty queue at `mem` (physical address `phys`).
    ///
    /// # Safety
    ///
    /// `mem` must point to [`SplitQueue::bytes`] writable bytes, 16-byte aligned, that
    /// nothing else uses, and `phys` must be their physical address.
    pub unsafe fn new(mem: *mut u8, phys: u64, size: u16) -> SplitQueue {
        assert!(size.is_power_of_two(), "virtqueue sizes are powers of two");
        // SAFETY: per the caller.
        unsafe { ptr::write_bytes(mem, 0, Self::bytes(size)) };
        let queue = SplitQueue {
            mem,
            phys,
            size,
            next_avail: 0,
            last_used: 0,
        };
        queue.write_u16(queue.avail(), AVAIL_NO_INTERRUPT);
        queue
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    /// Physical addresses of the descriptor table, available ring and used ring.
    pub fn addresses(&self) -> (u64, u64, u64) {
        (
            self.phys,
            self.phys + self.avail() as u64,
            self.phys + Self::used_offset(self.size) as u64,
        )
    }

    fn avail(&self) -> usize {
        DESC_SIZE * self.size as usize
    }

    fn used(&self) -> usize {
        Self::used_offset(self.size)
    }

    fn write_u16(&self, offset: usize, value: u16) {
        // SAFETY: `offset` lies inside the queue's memory (callers compute it from the
        // layout); volatile because the device reads it.
        unsafe { ptr::write_volatile(self.mem.add(offset).cast::<u16>(), value.to_le()) }
    }

    fn read_u16(&self, offset: usize) -> u16 {
        // SAFETY: as in `write_u16`; the device writes the used ring.
        u16::from_le(unsafe { ptr::read_volatile(self.mem.add(offset).cast::<u16>()) })
    }

    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: as in `read_u16`.
        u32::from_le(unsafe { ptr::read_volatile(self.mem.add(offset).cast::<u32>()) })
    }

    /// Makes `chain` available to the device (readable buffers must come first). The
    /// caller then notifies the device.
    ///
    /// # Safety
    ///
    /// Every buffer must be memory the driver owns, at the physical address given, left
    /// alone until the device has returned the chain ([`SplitQueue::take_used`]), and no
    /// earlier chain may still be with the device (descriptors are reused).
    pub unsafe fn submit(&mut self, chain: &[Buffer]) {
        assert!(
            !chain.is_empty() && chain.len() <= self.size as usize,
            "a chain of {} buffers does not fit a queue of {}",
            chain.len(),
            self.size
        );
        for (i, buffer) in chain.iter().enumerate() {
            let next = (i + 1 < chain.len()).then_some(i as u16 + 1);
            self.write_descriptor(i as u16, buffer, next);
        }
        self.publish(0);
    }

    /// Makes `buffer` available to the device on its own, in descriptor `slot`, beside
    /// other such buffers (the device returns it with `slot` as its head). The caller then
    /// notifies the device.
    ///
    /// # Safety
    ///
    /// As for [`SplitQueue::submit`], and descriptor `slot` (below the queue's size) must
    /// not be with the device; a queue either takes whole chains with `submit` or single
    /// buffers with `post`, never both.
    pub unsafe fn post(&mut self, slot: u16, buffer: Buffer) {
        assert!(
            slot < self.size,
            "descriptor {slot} of a queue of {}",
            self.size
        );
        self.write_descriptor(slot, &buffer, None);
        self.publish(slot);
    }

    /// Writes descriptor `index` for `buffer`, linked to `next` if given.
    fn write_descriptor(&mut self, index: u16, buffer: &Buffer, next: Option<u16>) {
        let mut flags = if next.is_some() { DESC_NEXT } else { 0 };
        if buffer.device_writes {
            flags |= DESC_WRITE;
        }
        let mut desc = [0u8; DESC_SIZE];
        desc[0..8].copy_from_slice(&buffer.phys.to_le_bytes());
        desc[8..12].copy_from_slice(&buffer.len.to_le_bytes());
        desc[12..14].copy_from_slice(&flags.to_le_bytes());
        desc[14..16].copy_from_slice(&next.unwrap_or(0).to_le_bytes());
        // SAFETY: descriptor `index` lies inside the table (index < size, checked by the
        // callers).
        unsafe {
            ptr::copy_nonoverlapping(
                desc.as_ptr(),
                self.mem.add(index as usize * DESC_SIZE),
                DESC_SIZE,
            )
        };
    }

    /// Puts the chain starting at descriptor `head` in the available ring.
    fn publish(&mut self, head: u16) {
        let slot = (self.next_avail % self.size) as usize;
        self.write_u16(self.avail() + 4 + 2 * slot, head);
        // The descriptors and the ring entry before the index that publishes them.
        fence(Ordering::SeqCst);
        self.next_avail = self.next_avail.wrapping_add(1);
        self.write_u16(self.avail() + 2, self.next_avail);
        fence(Ordering::SeqCst);
    }

    /// The next chain the device has finished with: its head and the bytes it wrote.
    pub fn take_used(&mut self) -> Option<(u32, u32)> {
        let idx = self.read_u16(self.used() + 2);
        if idx == self.last_used {
            return None;
        }
        // The entry after the index that published it.
        fence(Ordering::SeqCst);
        let slot = (self.last_used % self.size) as usize;
        let entry = self.used() + 4 + 8 * slot;
        let id = self.read_u32(entry);
        let len = self.read_u32(entry + 4);
        self.last_used = self.last_used.wrapping_add(1);
        Some((id, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that answers each available chain by writing `reply` into its first
    /// device-writable buffer, as a virtio device reads the rings (here the "physical"
    /// addresses are this process's own).
    struct FakeDevice {
        mem: *mut u8,
        size: u16,
        seen: u16,
        used: u16,
    }

    impl FakeDevice {
        fn serve(&mut self, reply: &[u8]) -> Vec<Vec<u8>> {
            let avail = DESC_SIZE * self.size as usize;
            let used = SplitQueue::used_offset(self.size);
            let mut readable = Vec::new();
            unsafe {
                let idx = u16::from_le(ptr::read_volatile(self.mem.add(avail + 2).cast::<u16>()));
                while self.seen != idx {
                    let slot = (self.seen % self.size) as usize;
                    let head = ptr::read_volatile(self.mem.add(avail + 4 + 2 * slot).cast::<u16>());
                    let mut d = head as usize;
                    let mut written = 0u32;
                    loop {
                        let desc = self.mem.add(d * DESC_SIZE);
                        let addr = ptr::read(desc.cast::<u64>()) as *mut u8;
                        let len = ptr::read(desc.add(8).cast::<u32>()) as usize;
                        let flags = ptr::read(desc.add(12).cast::<u16>());
                        let next = ptr::read(desc.add(14).cast::<u16>());
                        if flags & DESC_WRITE != 0 {
                            if written == 0 {
                                let n = reply.len().min(len);
                                ptr::copy_nonoverlapping(reply.as_ptr(), addr, n);
                                written = n as u32;
                            }
                        } else {
                            readable.push(std::slice::from_raw_parts(addr, len).to_vec());
                        }
                        if flags & DESC_NEXT == 0 {
                            break;
                        }
                        d = next as usize;
                    }
                    let uslot = (self.used % self.size) as usize;
                    let entry = self.mem.add(used + 4 + 8 * uslot);
                    ptr::write(entry.cast::<u32>(), u32::from(head));
                    ptr::write(entry.add(4).cast::<u32>(), written);
                    self.used = self.used.wrapping_add(1);
                    ptr::write_volatile(self.mem.add(used + 2).cast::<u16>(), self.used);
                    self.seen = self.seen.wrapping_add(1);
                }
            }
            readable
        }
    }

    #[test]
    fn chains_go_round_the_ring() {
        let size = 4u16;
        let mut backing = vec![0u128; SplitQueue::bytes(size) / 16 + 1];
        let mem = backing.as_mut_ptr().cast::<u8>();
        let mut queue = unsafe { SplitQueue::new(mem, mem as u64, size) };
        let (desc, avail, used) = queue.addresses();
        assert_eq!(desc, mem as u64);
        assert_eq!(avail - desc, 64);
        assert_eq!((used - desc) % 4, 0);
        let mut device = FakeDevice {
            mem,
            size,
            seen: 0,
            used: 0,
        };
        assert_eq!(queue.take_used(), None);
        // More rounds than the ring has entries: indexes wrap.
        for round in 0..11u8 {
            let request = [round; 3];
            let mut reply = [0u8; 8];
            // SAFETY: both buffers live until the fake device has served the chain.
            unsafe {
                queue.submit(&[
                    Buffer {
                        phys: request.as_ptr() as u64,
                        len: 3,
                        device_writes: false,
                    },
                    Buffer {
                        phys: reply.as_mut_ptr() as u64,
                        len: 8,
                        device_writes: true,
                    },
                ])
            };
            assert_eq!(device.serve(b"ok"), vec![vec![round; 3]]);
            assert_eq!(queue.take_used(), Some((0, 2)));
            assert_eq!(queue.take_used(), None);
            assert_eq!(&reply[..2], b"ok");
        }
    }

    #[test]
    fn posted_buffers_wait_side_by_side_and_come_back_by_slot() {
        let size = 4u16;
        let mut backing = vec![0u128; SplitQueue::bytes(size) / 16 + 1];
        let mem = backing.as_mut_ptr().cast::<u8>();
        let mut queue = unsafe { SplitQueue::new(mem, mem as u64, size) };
        let mut device = FakeDevice {
            mem,
            size,
            seen: 0,
            used: 0,
        };
        let mut buffers = [[0u8; 4]; 3];
        for round in 0..3 {
            for (slot, buffer) in buffers.iter_mut().enumerate() {
                // SAFETY: the buffers outlive the fake device's use of them.
                unsafe {
                    queue.post(
                        slot as u16,
                        Buffer {
                            phys: buffer.as_mut_ptr() as u64,
                            len: 4,
                            device_writes: true,
                        },
                    )
                };
            }
            assert!(
                device.serve(&[round; 2]).is_empty(),
                "nothing device-readable"
            );
            for slot in 0..3 {
                assert_eq!(queue.take_used(), Some((slot, 2)));
                assert_eq!(buffers[slot as usize][..2], [round; 2]);
            }
            assert_eq!(queue.take_used(), None);
        }
    }
}
