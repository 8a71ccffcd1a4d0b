//! Measuring the TSC frequency against the RTC's periodic flag.
//!
//! Kernel 0.11 takes the frequency from `/hermit,tsc` in the device tree. Without it, on a
//! CPU model that does not report it in CPUID, the kernel measures with the PIT and its
//! interrupt, or, without a PIT (`-M microvm,pit=off`), waits 120 million cycles and guesses
//! 2 GHz. Polling the CMOS RTC's periodic-interrupt flag (no interrupt is delivered: the
//! I/O APIC pins are masked) takes a few milliseconds and needs only `rtc=on`.

use core::arch::x86_64::_rdtsc;

use super::port_io::{inb, outb};

const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;
/// Set in the index byte: keep NMIs disabled while the loader runs.
const NMI_DISABLE: u8 = 0x80;

const REGISTER_A: u8 = 0x0a;
const REGISTER_B: u8 = 0x0b;
const REGISTER_C: u8 = 0x0c;

/// Register A rate select 3: periodic flag at 8192 Hz.
const RATE_SELECT_8192_HZ: u8 = 0x03;
const PERIODIC_HZ: u64 = 8192;
const REGISTER_B_PERIODIC_ENABLE: u8 = 1 << 6;
const REGISTER_C_PERIODIC_FLAG: u8 = 1 << 6;

/// Periods to time (about 4 ms). A late poll (QEMU's thread descheduled) stretches one
/// period and a missed flag doubles one, so outliers are dropped.
const PERIODS: usize = 32;
/// Polls to wait for one period before giving up (no RTC, or a stopped one).
const POLL_LIMIT: u32 = 1_000_000;

/// Returns the TSC frequency in kHz, or `None` if the machine has no usable RTC.
pub fn measure_khz() -> Option<u32> {
    let saved_a = read(REGISTER_A);
    let saved_b = read(REGISTER_B);
    if saved_a == 0xff && saved_b == 0xff {
        return None; // nothing answers at the CMOS ports
    }

    write(REGISTER_A, (saved_a & 0xf0) | RATE_SELECT_8192_HZ);
    write(REGISTER_B, saved_b | REGISTER_B_PERIODIC_ENABLE);
    read(REGISTER_C);

    let cycles = median_period_cycles();

    write(REGISTER_B, saved_b);
    write(REGISTER_A, saved_a);
    read(REGISTER_C);

    let khz = cycles? * PERIODIC_HZ / 1000;
    // Anything outside 100 MHz..20 GHz is a broken measurement.
    (100_000..20_000_000)
        .contains(&khz)
        .then(|| u32::try_from(khz).unwrap())
}

/// Times `PERIODS` consecutive periods in TSC cycles and returns the mean of the middle
/// half (robust against a few stretched or doubled periods).
fn median_period_cycles() -> Option<u64> {
    let mut periods = [0u64; PERIODS];
    wait_period()?;
    // SAFETY: every x86_64 CPU has a TSC.
    let mut last = unsafe { _rdtsc() };
    for period in &mut periods {
        wait_period()?;
        // SAFETY: as above.
        let now = unsafe { _rdtsc() };
        *period = now - last;
        last = now;
    }
    periods.sort_unstable();
    let middle = &periods[PERIODS / 4..PERIODS * 3 / 4];
    Some(middle.iter().sum::<u64>() / middle.len() as u64)
}

/// Waits for the periodic flag; reading register C clears it.
fn wait_period() -> Option<()> {
    (0..POLL_LIMIT)
        .any(|_| read(REGISTER_C) & REGISTER_C_PERIODIC_FLAG != 0)
        .then_some(())
}

fn read(register: u8) -> u8 {
    outb(CMOS_INDEX, NMI_DISABLE | register);
    inb(CMOS_DATA)
}

fn write(register: u8, value: u8) {
    outb(CMOS_INDEX, NMI_DISABLE | register);
    outb(CMOS_DATA, value);
}
