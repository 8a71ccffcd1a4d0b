//! Our virtio driver core: the virtio-mmio transport ([`mmio`]), split virtqueues driven
//! by polling ([`queue`]), and the console's multiport protocol ([`console`]); the device
//! classes are virtio-fs (host folders) and the console (x86's streaming stdin). The queue
//! and protocol logic is plain memory work, tested natively against simulated devices.

pub mod console;
pub mod mmio;
pub mod queue;
