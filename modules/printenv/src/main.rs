//! Prints what it was given: one `arg X` line per argument (argv[0] left out), then one
//! `env K=V` line per environment variable, in order. Tests use it to check what a
//! Hermitfile and launch options grant, and that nothing else leaks in.

fn main() {
    for arg in std::env::args().skip(1) {
        println!("arg {arg}");
    }
    for (key, value) in std::env::vars() {
        println!("env {key}={value}");
    }
}
