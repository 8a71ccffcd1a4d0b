//! The 16550 UART at COM1, the console of the loader and of the kernel.

use super::port_io::{inb, outb};

/// I/O port base of COM1.
pub const COM1: u16 = 0x3f8;

const DATA: u16 = COM1;
const INTERRUPT_ENABLE: u16 = COM1 + 1;
const FIFO_CONTROL: u16 = COM1 + 2;
const LINE_CONTROL: u16 = COM1 + 3;
const MODEM_CONTROL: u16 = COM1 + 4;
const LINE_STATUS: u16 = COM1 + 5;

const LINE_STATUS_THR_EMPTY: u8 = 1 << 5;

/// Programs 115200 baud, 8N1, FIFOs on, no interrupts.
pub fn init() {
    outb(INTERRUPT_ENABLE, 0x00);
    outb(LINE_CONTROL, 0x80); // divisor latch access
    outb(DATA, 0x01); // divisor 1: 115200 baud
    outb(INTERRUPT_ENABLE, 0x00);
    outb(LINE_CONTROL, 0x03); // 8 data bits, no parity, 1 stop bit
    outb(FIFO_CONTROL, 0xc7); // enable and clear FIFOs
    outb(MODEM_CONTROL, 0x03); // DTR, RTS
}

/// Sends one byte, waiting for the transmitter to take it.
pub fn write_byte(byte: u8) {
    while inb(LINE_STATUS) & LINE_STATUS_THR_EMPTY == 0 {
        core::hint::spin_loop();
    }
    outb(DATA, byte);
}
