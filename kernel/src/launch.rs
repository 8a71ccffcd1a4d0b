//! The runner's command line: what the launch script (or the host) adds at launch time,
//! mirroring wasmtime's flags, then the module's own arguments:
//!
//! `[--env KEY=VALUE]... [--map HOST[:GUEST][:ro]]... [--limit NAME=VALUE]...
//! [--virtio-fs BASE,STRIDE,COUNT] [--maps-at DIR] [--pwd DIR] [--exe-name PATH]
//! [--terminals FDS] -- ARGS...`
//!
//! `--limit` (the grammar of `limit_spec.rs`) replaces the image's `LIMIT` of that kind for
//! this run; the runner enforces `memory`, `output`, `files` and `threads` itself.
//!
//! `--terminals` lists which of the launcher's stdin, stdout and stderr (0, 1, 2, comma
//! separated) are terminals: the module sees each stdio stream as `wasmtime run` shows the
//! same host stream, a character device only when it is a terminal.
//!
//! In the guest these arrive as the application arguments after the kernel's own `--`.
//! There the host's directories are not at their host paths: the launch script shares every
//! map (the image's, then those given at launch, in that order), the k-th as directory `k`
//! of one shared folder. Under QEMU that folder is a virtio-fs device in one of the
//! virtio-mmio slots `--virtio-fs` names (COUNT register windows from physical address
//! BASE, STRIDE bytes apart); under uhyve it is the guest directory `--maps-at DIR`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::limit_spec::{LimitSpec, Limits};
use crate::manifest::{Map, RunConfig};
use crate::map_spec::MapSpec;
use crate::usage::Usage;
use crate::wasi::std_fs::StdFs;
use crate::wasi::vfs::FileSystem;
use crate::wasi::{Preopen, WasiConfig};

/// Where the virtio-mmio register windows of a machine are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioSlots {
    pub base: u64,
    pub stride: u64,
    pub count: u32,
}

impl MmioSlots {
    /// `BASE,STRIDE,COUNT`, each decimal or `0x` hexadecimal.
    pub fn parse(text: &str) -> Result<MmioSlots> {
        let number = |s: &str| -> Result<u64> {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            }
            .with_context(|| format!("--virtio-fs {text:?}: {s:?} is not a number"))
        };
        let parts: Vec<&str> = text.split(',').collect();
        let [base, stride, count] = parts.as_slice() else {
            bail!("--virtio-fs {text:?} is not BASE,STRIDE,COUNT");
        };
        let slots = MmioSlots {
            base: number(base)?,
            stride: number(stride)?,
            count: u32::try_from(number(count)?).context("--virtio-fs: COUNT too large")?,
        };
        if slots.stride < 0x100 || slots.count == 0 {
            bail!("--virtio-fs {text:?}: STRIDE below 0x100 or no slots");
        }
        Ok(slots)
    }

    /// The physical address range the windows span.
    pub fn span(&self) -> std::ops::Range<u64> {
        self.base..self.base + self.stride * u64::from(self.count)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    pub env: Vec<(String, String)>,
    pub maps: Vec<Map>,
    /// Where the maps are in this runner's file system when not at their host paths: the
    /// k-th map (image maps first) is `DIR/k`.
    pub maps_at: Option<String>,
    /// The virtio-mmio slots to find the virtio-fs device with the maps in.
    pub virtio_fs: Option<MmioSlots>,
    /// The host's current directory (PWD for images whose Hermitfile asks for it).
    pub pwd: Option<String>,
    /// The launch script's path (EXE_NAME for images whose Hermitfile asks for it).
    pub exe_name: Option<String>,
    /// Whether the launcher's stdin, stdout and stderr are terminals.
    pub terminals: [bool; 3],
    /// Limits given at launch, over the image's.
    pub limits: Limits,
    pub args: Vec<String>,
}

impl LaunchOptions {
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<LaunchOptions> {
        let mut options = LaunchOptions::default();
        let mut argv = argv.into_iter();
        while let Some(arg) = argv.next() {
            let mut value =
                |name: &str| argv.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--" => {
                    options.args.extend(argv);
                    break;
                }
                "--env" => options.env.push(parse_env(&value("--env")?)?),
                "--map" => options.maps.push(parse_map(&value("--map")?)?),
                "--limit" => {
                    let spec = value("--limit")?;
                    let limit =
                        LimitSpec::parse(&spec).with_context(|| format!("--limit {spec:?}"))?;
                    options.limits.set(limit);
                }
                "--maps-at" => options.maps_at = Some(value("--maps-at")?),
                "--virtio-fs" => {
                    options.virtio_fs = Some(MmioSlots::parse(&value("--virtio-fs")?)?)
                }
                "--pwd" => options.pwd = Some(value("--pwd")?),
                "--exe-name" => options.exe_name = Some(value("--exe-name")?),
                "--terminals" => options.terminals = parse_terminals(&value("--terminals")?)?,
                other => bail!("unknown runner option {other:?} (module arguments go after --)"),
            }
        }
        Ok(options)
    }

    /// The limits of this run: the image's, each replaced by the one given at launch.
    pub fn limits(&self, image: &Limits) -> Limits {
        let mut limits = *image;
        for name in crate::limit_spec::LimitName::ALL {
            if let Some(value) = self.limits.get(name) {
                limits.set(LimitSpec { name, value });
            }
        }
        limits
    }

    /// Whether the maps are in a shared folder (`--virtio-fs`, `--maps-at`) rather than
    /// at their host paths.
    pub fn maps_are_shared(&self) -> bool {
        self.virtio_fs.is_some() || self.maps_at.is_some()
    }

    /// The module's WASI configuration: what the image grants plus what was added at
    /// launch. `program` is argv[0]. `share` is the shared folder the maps are in, where
    /// `--virtio-fs` says there is one; otherwise they are host directories (under
    /// `--maps-at`, or at their own paths).
    pub fn wasi_config(
        &self,
        program: &str,
        run: &RunConfig,
        share: Option<Arc<dyn FileSystem>>,
    ) -> WasiConfig {
        let mut args = vec![program.to_string()];
        args.extend(run.args.iter().cloned());
        args.extend(self.args.iter().cloned());
        let mut env = run.env.clone();
        if run.env_pwd_is_host_cwd {
            if let Some(pwd) = &self.pwd {
                env.push(("PWD".into(), pwd.clone()));
            }
        }
        if run.env_exe_name_is_host_exe_name {
            if let Some(exe) = &self.exe_name {
                env.push(("EXE_NAME".into(), exe.clone()));
            }
        }
        env.extend(self.env.iter().cloned());
        let host_fs: Arc<dyn FileSystem> = Arc::new(StdFs);
        let preopens = run
            .maps
            .iter()
            .chain(&self.maps)
            .enumerate()
            .map(|(k, map)| Preopen {
                fs: share.clone().unwrap_or_else(|| host_fs.clone()),
                host: match (&share, &self.maps_at) {
                    (Some(_), _) => k.to_string().into(),
                    (None, Some(dir)) => format!("{}/{k}", dir.trim_end_matches('/')).into(),
                    (None, None) => map.host.clone().into(),
                },
                guest: map.guest.clone(),
                read_only: map.read_only,
            })
            .collect();
        let limits = self.limits(&run.limits);
        WasiConfig {
            args,
            env,
            preopens,
            max_files: limits.files,
            usage: Arc::new(Usage::new(limits.output)),
        }
    }
}

/// `FDS`: some of 0, 1, 2, comma separated (`0,2`).
pub fn parse_terminals(arg: &str) -> Result<[bool; 3]> {
    let mut terminals = [false; 3];
    for fd in arg.split(',') {
        match fd {
            "0" | "1" | "2" => terminals[usize::from(fd.as_bytes()[0] - b'0')] = true,
            _ => bail!("--terminals {arg:?}: {fd:?} is not 0, 1 or 2 (stdin, stdout, stderr)"),
        }
    }
    Ok(terminals)
}

/// `KEY=VALUE`.
pub fn parse_env(arg: &str) -> Result<(String, String)> {
    let (key, value) = arg
        .split_once('=')
        .with_context(|| format!("--env {arg:?} is not KEY=VALUE"))?;
    if key.is_empty() {
        bail!("--env {arg:?} has an empty name");
    }
    Ok((key.to_string(), value.to_string()))
}

/// `HOST[:GUEST][:ro|:rw]` (the grammar of [`MapSpec`]); without GUEST the preopen's name
/// is HOST as written, as `wasmtime run --dir HOST` names it.
pub fn parse_map(arg: &str) -> Result<Map> {
    let spec = MapSpec::parse(arg).with_context(|| format!("--map {arg:?}"))?;
    Ok(Map {
        guest: spec.guest.unwrap_or_else(|| spec.host.clone()),
        host: spec.host,
        read_only: spec.read_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_come_before_the_module_arguments() {
        let options = LaunchOptions::parse(strings(&[
            "--env",
            "A=1",
            "--map",
            "/tmp/x:/data:ro",
            "--pwd",
            "/home",
            "--",
            "--env",
            "B=2",
        ]))
        .unwrap();
        assert_eq!(options.env, vec![("A".into(), "1".into())]);
        assert_eq!(
            options.maps,
            vec![Map {
                host: "/tmp/x".into(),
                guest: "/data".into(),
                read_only: true
            }]
        );
        assert_eq!(options.pwd.as_deref(), Some("/home"));
        assert_eq!(options.args, strings(&["--env", "B=2"]));
    }

    #[test]
    fn terminals_name_the_stdio_streams_that_are_terminals() {
        let options = LaunchOptions::parse(strings(&["--terminals", "0,2", "--"])).unwrap();
        assert_eq!(options.terminals, [true, false, true]);
        assert_eq!(
            LaunchOptions::parse(strings(&[])).unwrap().terminals,
            [false; 3]
        );
        for bad in ["", "3", "0,,1", "stdout"] {
            assert!(parse_terminals(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_options_and_missing_values_are_errors() {
        assert!(LaunchOptions::parse(strings(&["--frob"])).is_err());
        assert!(LaunchOptions::parse(strings(&["--env"])).is_err());
        assert!(LaunchOptions::parse(strings(&["--env", "NOEQUALS"])).is_err());
    }

    /// An image that maps /srv read-only.
    fn srv_read_only() -> RunConfig {
        RunConfig {
            maps: vec![Map {
                host: "/srv".into(),
                guest: "/srv".into(),
                read_only: true,
            }],
            ..RunConfig::default()
        }
    }

    #[test]
    fn virtio_fs_slots_are_parsed() {
        let options =
            LaunchOptions::parse(strings(&["--virtio-fs", "0xfeb00000,0x200,8", "--"])).unwrap();
        let slots = options.virtio_fs.unwrap();
        assert_eq!(slots.base, 0xfeb0_0000);
        assert_eq!(slots.stride, 0x200);
        assert_eq!(slots.count, 8);
        assert_eq!(slots.span(), 0xfeb0_0000..0xfeb0_1000);
        assert!(options.maps_are_shared());
        for bad in [
            "0xfeb00000,0x200",
            "x,1,2",
            "0x1000,0x10,4",
            "0x1000,0x200,0",
        ] {
            assert!(MmioSlots::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_in_a_share_are_its_numbered_directories() {
        let run = srv_read_only();
        let options = LaunchOptions::parse(strings(&["--map", "/d:/data"])).unwrap();
        let share: Arc<dyn FileSystem> = Arc::new(StdFs);
        let config = options.wasi_config("app.wasm", &run, Some(share.clone()));
        let hosts: Vec<_> = config.preopens.iter().map(|p| p.host.clone()).collect();
        assert_eq!(hosts, [std::path::PathBuf::from("0"), "1".into()]);
        assert!(config.preopens.iter().all(|p| Arc::ptr_eq(&p.fs, &share)));
    }

    #[test]
    fn maps_take_three_forms() {
        assert_eq!(
            parse_map("/a").unwrap(),
            Map {
                host: "/a".into(),
                guest: "/a".into(),
                read_only: false
            }
        );
        assert_eq!(
            parse_map("/a:/b").unwrap(),
            Map {
                host: "/a".into(),
                guest: "/b".into(),
                read_only: false
            }
        );
        assert_eq!(
            parse_map("/a:/b:ro").unwrap(),
            Map {
                host: "/a".into(),
                guest: "/b".into(),
                read_only: true
            }
        );
        assert!(parse_map("/a:/b:/c:/d").is_err());
        // Guest names are verbatim, relative ones and `.` included, as wasmtime's `--dir`.
        assert_eq!(parse_map("/a:.").unwrap().guest, ".");
        assert_eq!(parse_map("data").unwrap().guest, "data");
        assert!(parse_map("data:RO").unwrap().read_only);
    }

    #[test]
    fn the_image_grants_come_first_then_launch_additions() {
        let run = RunConfig {
            args: strings(&["baked"]),
            env: vec![("IMAGE".into(), "yes".into())],
            env_pwd_is_host_cwd: true,
            env_exe_name_is_host_exe_name: false,
            maps: vec![Map {
                host: "/srv".into(),
                guest: "/srv".into(),
                read_only: true,
            }],
            entrypoint: None,
            limits: Limits {
                memory: Some(1 << 20),
                files: Some(9),
                ..Limits::default()
            },
        };
        let options = LaunchOptions::parse(strings(&[
            "--limit",
            "files=12",
            "--limit",
            "cpu=3",
            "--env",
            "L=1",
            "--pwd",
            "/w",
            "--exe-name",
            "/x/run.sh",
            "--",
            "given",
        ]))
        .unwrap();
        let config = options.wasi_config("app.wasm", &run, None);
        assert_eq!(config.args, strings(&["app.wasm", "baked", "given"]));
        assert_eq!(
            config.env,
            vec![
                ("IMAGE".into(), "yes".into()),
                ("PWD".into(), "/w".into()),
                ("L".into(), "1".into())
            ],
            "EXE_NAME only where the image asks for it"
        );
        assert_eq!(config.preopens.len(), 1);
        assert!(config.preopens[0].read_only);
        assert_eq!(config.preopens[0].host, std::path::PathBuf::from("/srv"));
        // Each launch limit replaces the image's of its kind; the others stay.
        let limits = options.limits(&run.limits);
        assert_eq!(
            (limits.memory, limits.files, limits.cpu),
            (Some(1 << 20), Some(12), Some(3))
        );
        assert_eq!(config.max_files, Some(12));
        let err = LaunchOptions::parse(strings(&["--limit", "files=0"])).unwrap_err();
        assert!(
            format!("{err:#}").contains("--limit \"files=0\""),
            "{err:#}"
        );
    }

    #[test]
    fn shared_maps_are_numbered_image_maps_first() {
        let run = srv_read_only();
        let options = LaunchOptions::parse(strings(&[
            "--map",
            "/home/me/data:/data",
            "--maps-at",
            "/maps/",
        ]))
        .unwrap();
        let config = options.wasi_config("app.wasm", &run, None);
        let preopens: Vec<_> = config
            .preopens
            .iter()
            .map(|p| (p.host.to_str().unwrap(), p.guest.as_str(), p.read_only))
            .collect();
        assert_eq!(
            preopens,
            vec![("/maps/0", "/srv", true), ("/maps/1", "/data", false)]
        );
    }
}
