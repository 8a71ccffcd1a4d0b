//! Runs the official WASI preview1 test suite natively against our WASI implementation.
//!
//! The suite lives in `../shared/wasi-testsuite` beside the repository (found from this
//! crate's manifest directory). Every `X.wasm` under
//! `tests/{assemblyscript,c,rust}/testsuite/wasm32-wasip1/` runs with the arguments,
//! environment, preopened root (a fresh writable copy of `root`, seen as `/`) of its
//! optional `X.json`, and must end with the expected exit code (default 0) and, when
//! given, exactly the expected stdout.
//!
//! `WASI_TESTSUITE_FILTER=<substring>` runs only the programs whose name contains it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hermit_wasm_kernel::wasi::{self, Exit, Preopen, SharedWasi, Stdio, WasiConfig, WasiCtx};
use wasmtime::{Config, Engine, Linker, Module, Store};

const LANGUAGES: &[&str] = &["assemblyscript", "c", "rust"];
const TIMEOUT: Duration = Duration::from_secs(60);

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/wasi-testsuite")
}

/// A writer whose bytes stay readable after the store is gone.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture lock")).into_owned()
    }
}

/// Stdin with nothing to read.
struct NoInput;

impl Read for NoInput {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

/// What `X.json` asks for.
#[derive(Default)]
struct Spec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    root: Option<String>,
    exit_code: i32,
    stdout: Option<String>,
}

fn read_spec(wasm: &Path) -> Result<Spec> {
    let json = wasm.with_extension("json");
    if !json.exists() {
        return Ok(Spec::default());
    }
    let text = fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
    let mut spec = Spec::default();
    if let Some(args) = value.get("args").and_then(|a| a.as_array()) {
        for arg in args {
            spec.args
                .push(arg.as_str().context("non-string argument")?.to_owned());
        }
    }
    if let Some(env) = value.get("env").and_then(|e| e.as_object()) {
        for (key, val) in env {
            spec.env.push((
                key.clone(),
                val.as_str().context("non-string env value")?.to_owned(),
            ));
        }
    }
    spec.root = value
        .get("root")
        .and_then(|r| r.as_str())
        .map(str::to_owned);
    if let Some(code) = value.get("exit_code") {
        spec.exit_code = i32::try_from(code.as_i64().context("exit_code is not a number")?)?;
    }
    spec.stdout = value
        .get("stdout")
        .and_then(|s| s.as_str())
        .map(str::to_owned);
    Ok(spec)
}

/// Copies `from` into `to` with writable permissions (the suite's files are read-only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
            let mut perms = fs::metadata(&dst)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&dst, perms)?;
        }
    }
    let mut perms = fs::metadata(to)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(to, perms)?;
    Ok(())
}

/// Runs one program; `Ok(())` when it behaved as its spec says.
fn run_one(engine: &Engine, wasm: &Path) -> Result<()> {
    let spec = read_spec(wasm)?;
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let mut preopens = Vec::new();
    if let Some(root) = &spec.root {
        let copy = scratch.path().join("root");
        copy_tree(&wasm.parent().expect("test folder").join(root), &copy)?;
        preopens.push(Preopen {
            fs: std::sync::Arc::new(hermit_wasm_kernel::wasi::std_fs::StdFs),
            host: copy,
            guest: "/".into(),
            read_only: false,
        });
    }
    let name = wasm
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let mut args = vec![name];
    args.extend(spec.args.iter().cloned());
    let (stdout, stderr) = (Capture::default(), Capture::default());
    let ctx = WasiCtx::new(
        WasiConfig {
            args,
            env: spec.env.clone(),
            preopens,
            ..WasiConfig::default()
        },
        Stdio {
            stdin: Box::new(NoInput),
            stdout: Box::new(stdout.clone()),
            stderr: Box::new(stderr.clone()),
            terminal: [false; 3],
        },
    )?;

    let module = Module::from_file(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("compiling")?;
    let mut linker: Linker<SharedWasi> = Linker::new(engine);
    wasi::add_to_linker(&mut linker, |wasi| wasi, &|_| true)?;
    let mut store = Store::new(engine, SharedWasi::new(ctx));
    store.set_epoch_deadline(TIMEOUT.as_secs());
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(anyhow::Error::from)
        .context("instantiating")?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    let code = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<Exit>() {
            Some(exit) => exit.0,
            None => bail!("trapped: {err:#}\nstderr: {}", stderr.text()),
        },
    };
    drop(store);
    if code != spec.exit_code {
        bail!(
            "exit code {code}, expected {}\nstderr: {}",
            spec.exit_code,
            stderr.text()
        );
    }
    if let Some(expected) = &spec.stdout {
        let got = stdout.text();
        if &got != expected {
            bail!("stdout {got:?}, expected {expected:?}");
        }
    }
    Ok(())
}

#[test]
fn wasi_testsuite_preview1() {
    let suite = suite_dir();
    if !suite.join("tests").is_dir() {
        panic!(
            "the WASI test suite is missing: expected it at {} (../shared/wasi-testsuite \
             beside the repository)",
            suite.display()
        );
    }
    let filter = std::env::var("WASI_TESTSUITE_FILTER").ok();
    let mut programs = Vec::new();
    for lang in LANGUAGES {
        let dir = suite
            .join("tests")
            .join(lang)
            .join("testsuite/wasm32-wasip1");
        let mut found: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .filter(|p| {
                filter
                    .as_ref()
                    .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
            })
            .collect();
        found.sort();
        programs.extend(found);
    }
    assert!(
        !programs.is_empty(),
        "no test programs found under {}",
        suite.display()
    );

    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).expect("engine");
    let ticker = engine.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        ticker.increment_epoch();
    });

    let (mut passed, mut failed) = (0, Vec::new());
    for wasm in &programs {
        let label = wasm
            .strip_prefix(suite.join("tests"))
            .unwrap_or(wasm)
            .display()
            .to_string();
        match run_one(&engine, wasm) {
            Ok(()) => passed += 1,
            Err(err) => {
                println!("FAIL {label}: {err:#}");
                failed.push(label);
            }
        }
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "failing programs: {failed:#?}");
}
