//! `ln [-s] TARGET LINK`: a hard link, or with `-s` a symbolic link whose content is
//! TARGET. Shows that links made in a mapped host directory are the host's own.

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let symbolic = args.first().is_some_and(|a| a == "-s");
    if symbolic {
        args.remove(0);
    }
    let [target, link] = args.as_slice() else {
        eprintln!("usage: ln [-s] TARGET LINK");
        std::process::exit(2);
    };
    #[allow(deprecated)] // the one portable std call for a symlink; WASI has no other
    let made = if symbolic {
        std::fs::soft_link(target, link)
    } else {
        std::fs::hard_link(target, link)
    };
    if let Err(err) = made {
        eprintln!("ln: {link}: {err}");
        std::process::exit(1);
    }
}
