//! A spawned thread calls `std::process::exit(3)` while main is blocked in a channel's
//! `recv` that never gets a message, to test that `proc_exit` from any thread ends the
//! whole module (every thread) with that status.
//!
//! Expected: stdout `main: waiting for a message that never comes`, nothing on stderr,
//! exit status 3. If `recv` ever returns, the program says so on stderr and exits with 1.

use std::sync::mpsc;
use std::thread;

fn main() {
    // Main keeps a sender, so `recv` can neither get a message nor see the channel close.
    let (_sender, receiver) = mpsc::channel::<()>();
    println!("main: waiting for a message that never comes");
    thread::spawn(|| std::process::exit(3));
    let outcome = receiver.recv();
    eprintln!("threads-exit: recv returned {outcome:?}; the exiting thread did not end the module");
    std::process::exit(1);
}
