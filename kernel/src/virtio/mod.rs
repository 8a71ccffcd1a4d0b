//! Our virtio driver core, enough for one device class (virtio-fs): the virtio-mmio
//! transport ([`mmio`]) and split virtqueues driven by polling ([`queue`]). The queue
//! logic is plain memory work and is tested natively against a simulated device.

pub mod mmio;
pub mod queue;
