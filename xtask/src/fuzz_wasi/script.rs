//! The scripts `cargo xtask fuzz-wasi` runs: generated from a seed (the same seed, the same
//! script, on every machine), weighted towards error paths. Each script works in a folder
//! of its own under the preopen: it first builds its fixture there through WASI (a file, a
//! directory with a file, symlinks to each, one out of the preopen, one dangling, a loop),
//! then makes random calls on descriptors and paths chosen to reach the corners: bad and
//! closed descriptors, stdio, files where directories are expected and the reverse,
//! `..`, absolute paths, trailing slashes, symlinks in and out, odd flags, rights and
//! sizes. The grammar is the `wasi-fuzz` module's (`modules/wasi-fuzz`).
//!
//! Every argument is one its type can hold: a value Wasmtime cannot decode (an unknown
//! advice, whence or clock) ends the whole run with an error, which would end every
//! script after it in the batch unseen. Those are regression scripts of their own.

/// A small, fast generator of reproducible numbers (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `oflags`: create, directory, exclusive, truncate.
const OFLAGS: [u64; 10] = [0, 1, 2, 4, 8, 1 | 4, 1 | 8, 1 | 2, 2 | 8, 1 | 2 | 4 | 8];
/// Rights: none, read, write, both, read and readdir, everything, seek and tell only.
const RIGHTS: [&str; 7] = ["0", "0x2", "0x40", "0x42", "0x4002", "0x1fffffff", "0x24"];
/// `fdflags`: append, dsync, nonblock, rsync, sync.
const FDFLAGS: [u64; 8] = [0, 0, 0, 1, 4, 1 | 4, 2, 16];
/// Sizes of reads, buffers and files.
const SIZES: [&str; 8] = ["0", "1", "5", "12", "100", "4096", "65537", "0xffffffff"];
/// Offsets for seeks, preads and pwrites.
const OFFSETS: [&str; 8] = [
    "0",
    "3",
    "5",
    "50",
    "-1",
    "-100",
    "0x10000000000",
    "0x7fffffffffffffff",
];
/// Texts to write.
const TEXTS: [&str; 5] = ["x", "hello", "%", "line%0Aline", "%FF%00ab"];
/// Times set by scripts (ns): small, so that the output shows them (not the clock's).
const TIMES: [&str; 3] = ["0", "1000000000", "1700000000000000"];

/// The script of `seed`: its fixture, then `calls` random calls. It works in folder `@`
/// (a batch names it).
pub fn generate(seed: u64, calls: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut lines = fixture("@");
    let mut gen = Generator {
        rng: &mut rng,
        dir: "@",
        slots: 0,
    };
    for _ in 0..calls {
        let line = gen.call();
        lines.push(line);
    }
    lines
}

/// The fixture every script starts with, in `dir`.
pub fn fixture(dir: &str) -> Vec<String> {
    [
        format!("mkdir 3 {dir}"),
        format!("open 3 0 {dir}/f 9 0x42 0 0 fx"),
        "write $fx hello%20world%0A".to_string(),
        "close $fx".to_string(),
        format!("mkdir 3 {dir}/d"),
        format!("open 3 0 {dir}/d/g 9 0x42 0 0 fx"),
        "write $fx in%20d%0A".to_string(),
        "close $fx".to_string(),
        format!("symlink f 3 {dir}/lf"),
        format!("symlink d 3 {dir}/ld"),
        format!("symlink ../../outside 3 {dir}/out"),
        format!("symlink nothing 3 {dir}/dangling"),
        format!("symlink loop2 3 {dir}/loop1"),
        format!("symlink loop1 3 {dir}/loop2"),
    ]
    .to_vec()
}

struct Generator<'a> {
    rng: &'a mut Rng,
    dir: &'a str,
    /// Slots named so far (`$0` ...).
    slots: usize,
}

impl Generator<'_> {
    /// A descriptor: mostly a slot or the preopen; sometimes stdio, a number nobody
    /// opened, or the largest one.
    fn fd(&mut self) -> String {
        match self.rng.below(20) {
            0..=9 if self.slots > 0 => format!("${}", self.rng.below(self.slots as u64)),
            0..=12 => "3".to_string(),
            13 => "0".to_string(),
            14 => "1".to_string(),
            15 => "2".to_string(),
            16 => "4".to_string(),
            17 => "99".to_string(),
            18 => "4294967295".to_string(),
            _ => "$99".to_string(),
        }
    }

    /// A descriptor that `close`, `renumber` or `setflags` may change: never stdout or
    /// stderr (the output goes there) nor the preopen (later scripts need it).
    fn own_fd(&mut self) -> String {
        match self.rng.below(10) {
            0..=7 if self.slots > 0 => format!("${}", self.rng.below(self.slots as u64)),
            0..=7 => "$0".to_string(),
            8 => "0".to_string(),
            _ => "99".to_string(),
        }
    }

    /// A path, relative to the preopen or to a descriptor opened on the script's folder or
    /// its `d`: names that exist and do not, through symlinks, with `..` and `.`, trailing
    /// slashes, absolute, empty, and NUL.
    fn path(&mut self) -> String {
        let d = self.dir;
        let names = [
            "f",
            "d",
            "d/g",
            "lf",
            "ld",
            "ld/g",
            "out",
            "dangling",
            "loop1",
            "new",
            "d/new",
            "f/",
            "d/",
            "new/",
            "lf/",
            "ld/",
            "dangling/",
            "d/../f",
            "d/./g",
            "f/x",
            "nothing/x",
            "out/x",
            "d/g/",
            "g",
            "new2",
            "d//g",
        ];
        match self.rng.below(30) {
            0..=20 => format!("{d}/{}", self.rng.pick(&names)),
            21 => (*self.rng.pick(&names)).to_string(),
            22 => format!("../{d}/f"),
            23 => "..".to_string(),
            24 => ".".to_string(),
            25 => "%".to_string(),
            26 => "/".to_string(),
            27 => format!("/{d}/f"),
            28 => format!("{d}/f%00x"),
            _ => format!("{d}/../../x"),
        }
    }

    fn number(&mut self, items: &[&str]) -> String {
        (*self.rng.pick(items)).to_string()
    }

    fn text(&mut self) -> String {
        (*self.rng.pick(&TEXTS)).to_string()
    }

    fn lookup(&mut self) -> &'static str {
        if self.rng.chance(60) {
            "1"
        } else {
            "0"
        }
    }

    /// One random call.
    fn call(&mut self) -> String {
        match self.rng.below(40) {
            0..=5 => {
                // Opens are the way to new descriptors: a bit more often.
                let slot = self.slots;
                self.slots += 1;
                let dir = if self.rng.chance(70) {
                    "3".to_string()
                } else {
                    self.fd()
                };
                let lookup = self.lookup();
                let path = self.path();
                let oflags = self.rng.pick(&OFLAGS);
                let base = self.number(&RIGHTS);
                let inheriting = self.number(&RIGHTS);
                let fdflags = self.rng.pick(&FDFLAGS);
                format!("open {dir} {lookup} {path} {oflags} {base} {inheriting} {fdflags} {slot}")
            }
            6 => format!("close {}", self.own_fd()),
            7 => format!("read {} {}", self.fd(), self.number(&SIZES[..5])),
            8 => format!(
                "readv {} {} {}",
                self.fd(),
                self.number(&SIZES[..4]),
                self.number(&SIZES[..4])
            ),
            9 => format!(
                "pread {} {} {}",
                self.fd(),
                self.number(&SIZES[..5]),
                self.number(&OFFSETS)
            ),
            10 | 11 => format!("write {} {}", self.write_fd(), self.text()),
            12 => format!("writev {} {} {}", self.write_fd(), self.text(), self.text()),
            13 => format!(
                "pwrite {} {} {}",
                self.write_fd(),
                self.text(),
                self.number(&OFFSETS)
            ),
            14 => format!(
                "seek {} {} {}",
                self.fd(),
                self.number(&OFFSETS),
                self.rng.below(3)
            ),
            15 => format!("tell {}", self.fd()),
            16 => format!("fdstat {}", self.fd()),
            17 => format!("setflags {} {}", self.own_fd(), self.rng.pick(&FDFLAGS)),
            18 => format!(
                "setrights {} {} {}",
                self.fd(),
                self.number(&RIGHTS),
                self.number(&RIGHTS)
            ),
            19 => format!("fstat {}", self.fd()),
            20 => format!("fsetsize {} {}", self.fd(), self.number(&SIZES)),
            21 => format!(
                "fsettimes {} {} {} {}",
                self.fd(),
                self.number(&TIMES),
                self.number(&TIMES),
                self.rng.below(16)
            ),
            22 => format!(
                "advise {} {} {} {}",
                self.fd(),
                self.number(&OFFSETS[..4]),
                self.number(&SIZES[..5]),
                self.rng.below(6)
            ),
            23 => format!(
                "allocate {} {} {}",
                self.fd(),
                self.number(&OFFSETS[..4]),
                self.number(&SIZES[..5])
            ),
            24 => format!(
                "{} {}",
                if self.rng.chance(50) {
                    "sync"
                } else {
                    "datasync"
                },
                self.fd()
            ),
            25 => format!("renumber {} {}", self.own_fd(), self.own_fd()),
            26 => format!(
                "readdir {} {} {}",
                self.fd(),
                self.number(&SIZES[1..6]),
                self.rng.below(4)
            ),
            27 => format!("mkdir {} {}", self.dir_fd(), self.path()),
            28 => format!("rmdir {} {}", self.dir_fd(), self.path()),
            29 => format!("unlink {} {}", self.dir_fd(), self.path()),
            30 | 31 => format!("pstat {} {} {}", self.dir_fd(), self.lookup(), self.path()),
            32 => format!(
                "psettimes {} {} {} {} {} {}",
                self.dir_fd(),
                self.lookup(),
                self.path(),
                self.number(&TIMES),
                self.number(&TIMES),
                self.rng.below(16)
            ),
            33 => format!(
                "link {} {} {} {} {}",
                self.dir_fd(),
                self.lookup(),
                self.path(),
                self.dir_fd(),
                self.path()
            ),
            34 => {
                let target = match self.rng.below(6) {
                    0 => "f".to_string(),
                    1 => "d/g".to_string(),
                    2 => "../f".to_string(),
                    3 => "/etc/passwd".to_string(),
                    4 => "%".to_string(),
                    _ => "nothing".to_string(),
                };
                format!("symlink {target} {} {}", self.dir_fd(), self.path())
            }
            35 => format!(
                "readlink {} {} {}",
                self.dir_fd(),
                self.path(),
                self.number(&SIZES[..5])
            ),
            36 => format!(
                "rename {} {} {} {}",
                self.dir_fd(),
                self.path(),
                self.dir_fd(),
                self.path()
            ),
            37 => self.poll(),
            38 => format!("prestat {} {}", self.fd(), self.number(&SIZES[..4])),
            _ => {
                let id = self.rng.below(4);
                if self.rng.chance(50) {
                    format!("clockres {id}")
                } else {
                    format!("clocktime {id}")
                }
            }
        }
    }

    /// Where paths are looked up: mostly the preopen.
    fn dir_fd(&mut self) -> String {
        if self.rng.chance(75) {
            "3".to_string()
        } else {
            self.fd()
        }
    }

    /// Written to: never stdout or stderr, whose bytes would mix with the results.
    fn write_fd(&mut self) -> String {
        match self.fd().as_str() {
            "1" | "2" => "0".to_string(),
            fd => fd.to_string(),
        }
    }

    /// A poll whose answer does not depend on timing: clocks alone (one of them 0 ns, the
    /// others an hour), or one descriptor with an hour-long clock or none. (Wasmtime reads
    /// a file in the background to tell its readiness, so a file polled beside anything
    /// else ready may or may not be reported; nor can a 0 ns clock race a descriptor.)
    fn poll(&mut self) -> String {
        let mut subs = Vec::new();
        if self.rng.chance(25) {
            subs.push("c0".to_string());
            for _ in 0..self.rng.below(2) {
                subs.push("c3600000000000".to_string());
            }
        } else {
            let fd = self.fd();
            subs.push(if self.rng.chance(50) {
                format!("r{fd}")
            } else {
                format!("w{fd}")
            });
            if self.rng.chance(40) {
                subs.push("c3600000000000".to_string());
            }
        }
        // In either order.
        if self.rng.chance(50) {
            subs.reverse();
        }
        format!("poll {}", subs.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_script_every_time() {
        assert_eq!(generate(7, 40), generate(7, 40));
        assert_ne!(generate(7, 40), generate(8, 40));
        let script = generate(7, 40);
        assert_eq!(script.len(), fixture("@").len() + 40);
        assert!(script
            .iter()
            .all(|line| !line.contains(' ') || line.split(' ').all(|w| !w.is_empty())));
    }
}
