//! `mv FROM TO`: renames a file or directory. Shows that a rename in a mapped host
//! directory is the host's own rename, and that a read-only map refuses it.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to] = args.as_slice() else {
        eprintln!("usage: mv FROM TO");
        std::process::exit(2);
    };
    if let Err(err) = std::fs::rename(from, to) {
        eprintln!("mv: {from} -> {to}: {err}");
        std::process::exit(1);
    }
}
