//! The default module: greets from wherever it runs. Its first argument names the place
//! (images bake the board's architecture in); further arguments are echoed back.

fn main() {
    let mut args = std::env::args().skip(1);
    let place = args.next().unwrap_or_else(|| "an unnamed host".to_string());
    println!("Hello from WebAssembly on {place}!");
    let rest: Vec<String> = args.collect();
    if !rest.is_empty() {
        println!("arguments: {}", rest.join(" "));
    }
}
