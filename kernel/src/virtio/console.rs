//! The virtio console device's multiport protocol (virtio 1.x, section 5.3), as far as a
//! driver that reads one port needs it: the control messages, the queues of a port, and
//! the state of that port. The host side says when it closes the port (QEMU does when the
//! character device behind it reaches its end), which a plain console cannot: that is
//! how the guest learns that its stdin is at EOF.
//!
//! Plain logic, tested natively; `platform/virtio_stdin.rs` drives the device with it.

/// The device id of a console.
pub const DEVICE_ID: u32 = 3;
/// `VIRTIO_CONSOLE_F_MULTIPORT`: ports beyond the first, and the control queues.
pub const F_MULTIPORT: u32 = 1 << 1;
/// Device configuration: `max_nr_ports` (after `cols` and `rows`).
pub const CONFIG_MAX_PORTS: usize = 4;
/// The control queues' numbers.
pub const CONTROL_RX: u32 = 2;
pub const CONTROL_TX: u32 = 3;

/// Control message events.
pub mod event {
    pub const DEVICE_READY: u16 = 0;
    pub const DEVICE_ADD: u16 = 1;
    pub const DEVICE_REMOVE: u16 = 2;
    pub const PORT_READY: u16 = 3;
    pub const CONSOLE_PORT: u16 = 4;
    pub const RESIZE: u16 = 5;
    pub const PORT_OPEN: u16 = 6;
    pub const PORT_NAME: u16 = 7;
}

/// The queue on which the device writes port `port`'s data to the driver.
pub fn receive_queue(port: u32) -> u32 {
    if port == 0 {
        0
    } else {
        2 * port + 2
    }
}

/// A control message (`struct virtio_console_control`, 8 bytes, little-endian; a
/// `PORT_NAME` is followed by the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    pub id: u32,
    pub event: u16,
    pub value: u16,
}

impl Control {
    pub const SIZE: usize = 8;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut bytes = [0u8; Self::SIZE];
        bytes[0..4].copy_from_slice(&self.id.to_le_bytes());
        bytes[4..6].copy_from_slice(&self.event.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.value.to_le_bytes());
        bytes
    }

    /// The message at the start of `bytes`; `None` if they are too few.
    pub fn decode(bytes: &[u8]) -> Option<Control> {
        let bytes: &[u8; Self::SIZE] = bytes.get(..Self::SIZE)?.try_into().ok()?;
        Some(Control {
            id: u32::from_le_bytes(bytes[0..4].try_into().ok()?),
            event: u16::from_le_bytes(bytes[4..6].try_into().ok()?),
            value: u16::from_le_bytes(bytes[6..8].try_into().ok()?),
        })
    }
}

/// The driver's side of the conversation about the one port it reads.
#[derive(Debug)]
pub struct Port {
    port: u32,
    /// The device announced the port (`DEVICE_ADD`).
    added: bool,
    /// The host side is connected (`PORT_OPEN` 1), as last said.
    host_open: bool,
    /// The host side was connected once and has closed since: the end of the data.
    host_closed: bool,
}

impl Port {
    pub fn new(port: u32) -> Port {
        Port {
            port,
            added: false,
            host_open: false,
            host_closed: false,
        }
    }

    /// What the driver sends first, once its receive buffers are posted.
    pub fn start() -> Control {
        Control {
            id: 0,
            event: event::DEVICE_READY,
            value: 1,
        }
    }

    /// Handles one message from the device; returns the answers to send. Ports other than
    /// ours are declined (`PORT_READY` 0), ours is accepted and opened at once.
    pub fn on_control(&mut self, message: Control) -> Vec<Control> {
        let answer = |event, value| Control {
            id: message.id,
            event,
            value,
        };
        match message.event {
            event::DEVICE_ADD if message.id == self.port => {
                self.added = true;
                vec![answer(event::PORT_READY, 1), answer(event::PORT_OPEN, 1)]
            }
            event::DEVICE_ADD => vec![answer(event::PORT_READY, 0)],
            event::PORT_OPEN if message.id == self.port => {
                let open = message.value != 0;
                if self.host_open && !open {
                    self.host_closed = true;
                }
                self.host_open = open;
                Vec::new()
            }
            event::DEVICE_REMOVE if message.id == self.port => {
                self.added = false;
                self.host_closed = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the port was announced.
    pub fn added(&self) -> bool {
        self.added
    }

    /// Whether the host has closed the port after it was open: no more data will come
    /// beyond what the receive queue already holds.
    pub fn at_end(&self) -> bool {
        self.host_closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u32, event: u16, value: u16) -> Control {
        Control { id, event, value }
    }

    #[test]
    fn messages_round_trip_in_little_endian() {
        let m = message(0x0102_0304, event::PORT_OPEN, 1);
        let bytes = m.encode();
        assert_eq!(bytes, [4, 3, 2, 1, 6, 0, 1, 0]);
        assert_eq!(Control::decode(&bytes), Some(m));
        // A PORT_NAME carries its name after the message.
        let mut named = message(1, event::PORT_NAME, 1).encode().to_vec();
        named.extend_from_slice(b"stdin");
        assert_eq!(
            Control::decode(&named),
            Some(message(1, event::PORT_NAME, 1))
        );
        assert_eq!(Control::decode(&bytes[..7]), None);
    }

    #[test]
    fn port_n_receives_on_queue_2n_plus_2() {
        assert_eq!(receive_queue(0), 0);
        assert_eq!(receive_queue(1), 4);
        assert_eq!(receive_queue(2), 6);
    }

    #[test]
    fn our_port_is_opened_others_declined_and_its_close_is_the_end() {
        let mut port = Port::new(1);
        assert_eq!(Port::start(), message(0, event::DEVICE_READY, 1));
        assert_eq!(
            port.on_control(message(2, event::DEVICE_ADD, 0)),
            [message(2, event::PORT_READY, 0)]
        );
        assert!(!port.added());
        assert_eq!(
            port.on_control(message(1, event::DEVICE_ADD, 0)),
            [
                message(1, event::PORT_READY, 1),
                message(1, event::PORT_OPEN, 1)
            ]
        );
        assert!(port.added());
        assert!(port.on_control(message(1, event::PORT_NAME, 1)).is_empty());
        // Closed before it was ever open: not an end (the host may connect later).
        assert!(port.on_control(message(1, event::PORT_OPEN, 0)).is_empty());
        assert!(!port.at_end());
        port.on_control(message(1, event::PORT_OPEN, 1));
        assert!(!port.at_end());
        // Another port's close is not ours.
        port.on_control(message(2, event::PORT_OPEN, 0));
        assert!(!port.at_end());
        port.on_control(message(1, event::PORT_OPEN, 0));
        assert!(port.at_end());
    }
}
