//! A `log` backend that prints records on the serial console.
//!
//! `hermit-entry` reports its progress (ELF parsing, load addresses, TLS) through `log`.

use log::{LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            println!("[LOADER][{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the serial logger; records up to `level` get printed.
pub fn init(level: LevelFilter) {
    // Only fails if a logger is already installed, which then keeps printing.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
