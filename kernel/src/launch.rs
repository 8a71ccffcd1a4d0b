//! The runner's command line: what the launch script (or the host) adds at launch time,
//! mirroring wasmtime's flags, then the module's own arguments:
//!
//! `[--env KEY=VALUE]... [--map HOST:GUEST[:ro]]... [--maps-at DIR] [--pwd DIR]
//! [--exe-name PATH] -- ARGS...`
//!
//! In the guest these arrive as the application arguments after the kernel's own `--`.
//! There the host's directories are not at their host paths: the launch script shares every
//! map (the image's, then those given at launch, in that order) through virtio-fs, the
//! k-th as `DIR/k`, and says so with `--maps-at DIR`.

use anyhow::{bail, Context, Result};

use crate::manifest::{Map, RunConfig};
use crate::wasi::{Preopen, WasiConfig};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    pub env: Vec<(String, String)>,
    pub maps: Vec<Map>,
    /// Where the maps are in this runner's file system when not at their host paths: the
    /// k-th map (image maps first) is `DIR/k`.
    pub maps_at: Option<String>,
    /// The host's current directory (PWD for images whose Hermitfile asks for it).
    pub pwd: Option<String>,
    /// The launch script's path (EXE_NAME for images whose Hermitfile asks for it).
    pub exe_name: Option<String>,
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
                "--maps-at" => options.maps_at = Some(value("--maps-at")?),
                "--pwd" => options.pwd = Some(value("--pwd")?),
                "--exe-name" => options.exe_name = Some(value("--exe-name")?),
                other => bail!("unknown runner option {other:?} (module arguments go after --)"),
            }
        }
        Ok(options)
    }

    /// The module's WASI configuration: what the image grants plus what was added at
    /// launch. `program` is argv[0].
    pub fn wasi_config(&self, program: &str, run: &RunConfig) -> WasiConfig {
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
        let preopens = run
            .maps
            .iter()
            .chain(&self.maps)
            .enumerate()
            .map(|(k, map)| Preopen {
                host: match &self.maps_at {
                    Some(dir) => format!("{}/{k}", dir.trim_end_matches('/')).into(),
                    None => map.host.clone().into(),
                },
                guest: map.guest.clone(),
                read_only: map.read_only,
            })
            .collect();
        WasiConfig {
            args,
            env,
            preopens,
        }
    }
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

/// `HOST[:GUEST][:ro|:rw]`; a lone HOST maps to the same path.
pub fn parse_map(arg: &str) -> Result<Map> {
    let mut parts: Vec<&str> = arg.split(':').collect();
    let read_only = match parts.last().copied() {
        Some("ro") if parts.len() > 1 => {
            parts.pop();
            true
        }
        Some("rw") if parts.len() > 1 => {
            parts.pop();
            false
        }
        _ => false,
    };
    let (host, guest) = match parts.as_slice() {
        [host] => (*host, *host),
        [host, guest] => (*host, *guest),
        _ => bail!("--map {arg:?} is not HOST[:GUEST][:ro]"),
    };
    if host.is_empty() || guest.is_empty() {
        bail!("--map {arg:?} has an empty path");
    }
    Ok(Map {
        host: host.to_string(),
        guest: guest.to_string(),
        read_only,
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
    fn unknown_options_and_missing_values_are_errors() {
        assert!(LaunchOptions::parse(strings(&["--frob"])).is_err());
        assert!(LaunchOptions::parse(strings(&["--env"])).is_err());
        assert!(LaunchOptions::parse(strings(&["--env", "NOEQUALS"])).is_err());
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
        };
        let options = LaunchOptions::parse(strings(&[
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
        let config = options.wasi_config("app.wasm", &run);
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
    }

    #[test]
    fn shared_maps_are_numbered_image_maps_first() {
        let run = RunConfig {
            maps: vec![Map {
                host: "/srv".into(),
                guest: "/srv".into(),
                read_only: true,
            }],
            ..RunConfig::default()
        };
        let options = LaunchOptions::parse(strings(&[
            "--map",
            "/home/me/data:/data",
            "--maps-at",
            "/maps/",
        ]))
        .unwrap();
        let config = options.wasi_config("app.wasm", &run);
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
