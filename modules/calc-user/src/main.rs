//! Uses functions of another module: `add`, `fib`, `greet` and `calls` imported from the
//! module `calc` (`modules/calc`), which the image links with `LINK calc=calc.wasm` as
//! `wasmtime run --preload calc=calc.wasm` does. Sums its arguments with `add`, then
//! prints a Fibonacci number, calc's greeting and how many calls calc counted.

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "calc")]
extern "C" {
    fn add(a: i32, b: i32) -> i32;
    fn fib(n: u32) -> u64;
    fn greet();
    fn calls() -> u32;
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let mut sum = 0;
    for arg in std::env::args().skip(1) {
        let Ok(n) = arg.parse::<i32>() else {
            eprintln!("calc-user: {arg:?} is not a number");
            std::process::exit(2);
        };
        // SAFETY: calc's `add` takes and returns plain integers.
        sum = unsafe { add(sum, n) };
    }
    println!("sum: {sum}");
    // SAFETY: as above; `greet` takes nothing and only prints.
    unsafe {
        println!("fib(90): {}", fib(90));
        greet();
        println!("calc counted {} calls", calls());
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("calc-user runs as WebAssembly, with calc linked (LINK calc=calc.wasm)");
    std::process::exit(2);
}
