//! Our FUSE client, which the guest speaks to the host's virtiofsd over a virtio-fs device
//! to reach the host directories a module was granted: [`proto`] is the wire format,
//! [`session`] the operations. It knows nothing of virtio (a [`session::Channel`] carries
//! the bytes) and runs natively in tests.

pub mod proto;
pub mod session;

pub use session::{Channel, Session};
