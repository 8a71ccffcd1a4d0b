//! Traps on purpose (a WebAssembly `unreachable`), to test that a trapping module ends the
//! VM with status 134 and its trap message on stderr.

fn main() {
    println!("about to trap");
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}
