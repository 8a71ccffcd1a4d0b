//! Exits with the status given as its first argument (0 without one), to test that a
//! module's exit status becomes the VM's and then the host command's.

fn main() {
    let code = match std::env::args().nth(1) {
        None => 0,
        Some(arg) => match arg.parse::<i32>() {
            Ok(code) => code,
            Err(_) => {
                eprintln!("exit-code: not a number: {arg}");
                2
            }
        },
    };
    std::process::exit(code);
}
