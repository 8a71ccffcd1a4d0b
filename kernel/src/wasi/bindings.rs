//! The Wasmtime host functions: one `func_wrap` per wasi_snapshot_preview1 import.
//!
//! Each function decodes its arguments from guest memory, calls the operation on the
//! [`WasiCtx`], encodes the results back and returns the errno. Core wasm signatures
//! follow the witx: pointers, sizes, fds and flags are `i32`, 64-bit values `i64`.

use wasmtime::format_err;
use wasmtime::{Caller, Extern, Linker};

use super::abi::{self, Mem, Subscription, EVENT_SIZE, PREOPENTYPE_DIR, SUBSCRIPTION_SIZE};
use super::ctx::SharedWasi;
use super::errno::{Errno, WasiResult};
use super::stdio::Stream;
use super::{Exit, WasiCtx, MODULE};

/// Largest number of bytes one `fd_read`/`fd_pread` moves (reads may be short).
const MAX_READ: usize = 16 << 20;

type Getter<T> = fn(&mut T) -> &SharedWasi;

/// Runs `f` with the guest memory and the shared WASI state (unlocked). The memory is the
/// module's export `"memory"`: a plain memory, or the shared memory of a threads module.
fn with_memory<T, R>(
    caller: &mut Caller<'_, T>,
    get: Getter<T>,
    f: impl FnOnce(&mut Mem<'_>, &SharedWasi) -> R,
) -> wasmtime::Result<R> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => {
            let (bytes, data) = memory.data_and_store_mut(caller);
            Ok(f(&mut Mem::new(bytes), get(data)))
        }
        Some(Extern::SharedMemory(memory)) => {
            let mut mem = Mem::shared(memory.data());
            Ok(f(&mut mem, get(caller.data_mut())))
        }
        _ => Err(format_err!(
            "a WASI function was called but the module exports no \"memory\""
        )),
    }
}

/// Runs `on_stream` with the context unlocked when `fd` is a standard stream (its reads,
/// writes and flushes may block), `on_ctx` with it locked otherwise. One lock decides which:
/// another thread cannot renumber `fd` in between.
fn stream_or_locked<R>(
    wasi: &SharedWasi,
    fd: u32,
    on_stream: impl FnOnce(Stream) -> WasiResult<R>,
    on_ctx: impl FnOnce(&mut WasiCtx) -> WasiResult<R>,
) -> WasiResult<R> {
    let mut ctx = wasi.lock();
    match ctx.stream(fd) {
        Some(stream) => {
            drop(ctx);
            on_stream(stream)
        }
        None => on_ctx(&mut ctx),
    }
}

/// The errno code of a result.
fn code(result: WasiResult<()>) -> i32 {
    match result {
        Ok(()) => Errno::Success.code(),
        Err(errno) => errno.code(),
    }
}

/// Runs `op` with the guest memory and the context, locked for the call; returns the errno
/// code. For calls that do not block: the others use `with_memory` and lock by themselves.
fn call<T>(
    caller: &mut Caller<'_, T>,
    get: Getter<T>,
    op: impl FnOnce(&mut Mem<'_>, &mut WasiCtx) -> WasiResult<()>,
) -> wasmtime::Result<i32> {
    with_memory(caller, get, |mem, wasi| code(op(mem, &mut wasi.lock())))
}

/// How Wasmtime's generated bindings decode an argument before the call runs: a value out
/// of its type's integer range (`repr_max`), or not one of its values (an enum of
/// `count`) or bits (flags within `bits`), ends the run with an error (not an errno, not
/// a trap: `wasmtime run` exits 1), named as Wasmtime names it.
fn decoded(
    func: &str,
    ty: &str,
    value: i64,
    repr_max: u64,
    valid: bool,
    enum_: bool,
) -> wasmtime::Result<u64> {
    let in_func = |cause: &str| format!("In func {MODULE}::{func} at convert {ty}: {cause}");
    if value < 0 || value as u64 > repr_max {
        let conversion = "Int conversion error: TryFromIntError(())";
        return Err(
            wasmtime::Error::msg("out of range integral type conversion attempted")
                .context(conversion)
                .context(in_func(conversion)),
        );
    }
    if !valid {
        let cause = if enum_ {
            format!("Invalid enum value {ty}")
        } else {
            format!("Invalid flag value {ty}")
        };
        return Err(wasmtime::Error::msg(cause.clone()).context(in_func(&cause)));
    }
    Ok(value as u64)
}

/// An enum argument of `count` values, held in `repr_max` (see [`decoded`]).
fn enum_arg(func: &str, ty: &str, value: i32, repr_max: u64, count: u64) -> wasmtime::Result<u64> {
    let v = i64::from(value);
    decoded(func, ty, v, repr_max, (v as u64) < count, true)
}

/// A flags argument whose defined bits are `all`, held in `repr_max` (see [`decoded`]).
fn flags_arg(func: &str, ty: &str, value: i64, repr_max: u64, all: u64) -> wasmtime::Result<u64> {
    decoded(func, ty, value, repr_max, value as u64 & !all == 0, false)
}

/// `Rights`: 30 defined bits in a `u64` (the ABI passes an `i64`).
fn rights_arg(func: &str, value: i64) -> wasmtime::Result<u64> {
    flags_arg(func, "Rights", value, u64::MAX >> 1, abi::rights::ALL)
}

/// Writes NUL-terminated strings to `buf` and their addresses to `ptrs`.
fn write_strings(mem: &mut Mem<'_>, ptrs: u32, buf: u32, strings: &[String]) -> WasiResult<()> {
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        mem.write_u32(ptrs + 4 * i as u32, at)?;
        mem.write(at, s.as_bytes())?;
        at = at.checked_add(s.len() as u32).ok_or(Errno::Fault)?;
        mem.write_u8(at, 0)?;
        at += 1;
    }
    Ok(())
}

/// Writes the count and total NUL-terminated size of `strings`.
fn write_sizes(
    mem: &mut Mem<'_>,
    count_ptr: u32,
    size_ptr: u32,
    strings: &[String],
) -> WasiResult<()> {
    let size: usize = strings.iter().map(|s| s.len() + 1).sum();
    mem.write_u32(
        count_ptr,
        u32::try_from(strings.len()).map_err(|_| Errno::Overflow)?,
    )?;
    mem.write_u32(size_ptr, u32::try_from(size).map_err(|_| Errno::Overflow)?)
}

/// Registers every function. The order follows [`super::FUNCTIONS`].
pub(super) fn add<T: 'static>(
    linker: &mut Linker<T>,
    get: Getter<T>,
    wanted: &dyn Fn(&str) -> bool,
) -> wasmtime::Result<()> {
    let linker = &mut Definer { linker, wanted };
    add_process(linker, get)?;
    add_fd(linker, get)?;
    add_path(linker, get)?;
    add_misc(linker, get)?;
    Ok(())
}

/// Defines host functions in a linker, only those `wanted` names: a module imports a few of
/// the 46, and each definition costs (under the emulator, about a millisecond).
struct Definer<'a, T: 'static> {
    linker: &'a mut Linker<T>,
    wanted: &'a dyn Fn(&str) -> bool,
}

impl<T: 'static> Definer<'_, T> {
    fn func_wrap<Params, Args>(
        &mut self,
        module: &str,
        name: &str,
        func: impl wasmtime::IntoFunc<T, Params, Args>,
    ) -> wasmtime::Result<()> {
        if (self.wanted)(name) {
            self.linker.func_wrap(module, name, func)?;
        }
        Ok(())
    }
}

/// args, environ, clocks, proc_*, sched_yield, random_get.
fn add_process<T: 'static>(linker: &mut Definer<'_, T>, get: Getter<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "args_get",
        move |mut c: Caller<'_, T>, argv: i32, buf: i32| {
            call(&mut c, get, |mem, ctx| {
                write_strings(mem, argv as u32, buf as u32, &ctx.args)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "args_sizes_get",
        move |mut c: Caller<'_, T>, count: i32, size: i32| {
            call(&mut c, get, |mem, ctx| {
                write_sizes(mem, count as u32, size as u32, &ctx.args)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "environ_get",
        move |mut c: Caller<'_, T>, envp: i32, buf: i32| {
            call(&mut c, get, |mem, ctx| {
                write_strings(mem, envp as u32, buf as u32, &ctx.env)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "environ_sizes_get",
        move |mut c: Caller<'_, T>, count: i32, size: i32| {
            call(&mut c, get, |mem, ctx| {
                write_sizes(mem, count as u32, size as u32, &ctx.env)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_res_get",
        move |mut c: Caller<'_, T>, id: i32, out: i32| {
            enum_arg("clock_res_get", "Clockid", id, u32::MAX.into(), 4)?;
            call(&mut c, get, |mem, ctx| {
                let res = ctx.clocks.resolution(id as u32)?;
                mem.write_u64(out as u32, res)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        move |mut c: Caller<'_, T>, id: i32, _precision: i64, out: i32| {
            enum_arg("clock_time_get", "Clockid", id, u32::MAX.into(), 4)?;
            call(&mut c, get, |mem, ctx| {
                let now = ctx.clocks.now(id as u32)?;
                mem.write_u64(out as u32, now)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        move |_c: Caller<'_, T>, code: i32| -> wasmtime::Result<()> {
            // As Wasmtime: a status WASI cannot carry ends the run with an error.
            if code as u32 >= 126 {
                return Err(wasmtime::Error::msg(
                    "exit with invalid exit status outside of [0..126)",
                ));
            }
            Err(wasmtime::Error::new(Exit(code)))
        },
    )?;
    // Signals are not part of this runtime: nothing can be raised (`ENOTSUP`, as Wasmtime).
    linker.func_wrap(
        MODULE,
        "proc_raise",
        move |_c: Caller<'_, T>, sig: i32| -> wasmtime::Result<i32> {
            enum_arg("proc_raise", "Signal", sig, u8::MAX.into(), 31)?;
            Ok(Errno::Notsup.code())
        },
    )?;
    linker.func_wrap(MODULE, "sched_yield", move |_c: Caller<'_, T>| -> i32 {
        std::thread::yield_now();
        Errno::Success.code()
    })?;
    linker.func_wrap(
        MODULE,
        "random_get",
        move |mut c: Caller<'_, T>, buf: i32, len: i32| {
            call(&mut c, get, |mem, ctx| {
                mem.check(buf as u32, len as u32)?;
                let mut out = vec![0; len as u32 as usize];
                ctx.random.fill(&mut out);
                mem.write(buf as u32, &out)
            })
        },
    )?;
    Ok(())
}

/// fd_* functions.
fn add_fd<T: 'static>(linker: &mut Definer<'_, T>, get: Getter<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "fd_advise",
        move |mut c: Caller<'_, T>, fd: i32, offset: i64, len: i64, advice: i32| {
            enum_arg("fd_advise", "Advice", advice, u8::MAX.into(), 6)?;
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_advise(fd as u32, offset as u64, len as u64, advice as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_allocate",
        move |mut c: Caller<'_, T>, fd: i32, offset: i64, len: i64| {
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_allocate(fd as u32, offset as u64, len as u64)
            })
        },
    )?;
    linker.func_wrap(MODULE, "fd_close", move |mut c: Caller<'_, T>, fd: i32| {
        call(&mut c, get, |_mem, ctx| ctx.fd_close(fd as u32))
    })?;
    add_sync(linker, get, "fd_datasync", WasiCtx::fd_datasync)?;
    linker.func_wrap(
        MODULE,
        "fd_fdstat_get",
        move |mut c: Caller<'_, T>, fd: i32, out: i32| {
            call(&mut c, get, |mem, ctx| {
                let stat = ctx.fd_fdstat_get(fd as u32)?;
                mem.write(out as u32, &stat.to_bytes())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_fdstat_set_flags",
        move |mut c: Caller<'_, T>, fd: i32, flags: i32| {
            flags_arg(
                "fd_fdstat_set_flags",
                "Fdflags",
                flags.into(),
                u16::MAX.into(),
                abi::fdflags::ALL.into(),
            )?;
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_fdstat_set_flags(fd as u32, flags as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_fdstat_set_rights",
        move |mut c: Caller<'_, T>, fd: i32, base: i64, inheriting: i64| {
            rights_arg("fd_fdstat_set_rights", base)?;
            rights_arg("fd_fdstat_set_rights", inheriting)?;
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_fdstat_set_rights(fd as u32, base as u64, inheriting as u64)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_filestat_get",
        move |mut c: Caller<'_, T>, fd: i32, out: i32| {
            call(&mut c, get, |mem, ctx| {
                let stat = ctx.fd_filestat_get(fd as u32)?;
                mem.write(out as u32, &stat.to_bytes())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_filestat_set_size",
        move |mut c: Caller<'_, T>, fd: i32, size: i64| {
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_filestat_set_size(fd as u32, size as u64)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_filestat_set_times",
        move |mut c: Caller<'_, T>, fd: i32, atim: i64, mtim: i64, flags: i32| {
            flags_arg(
                "fd_filestat_set_times",
                "Fstflags",
                flags.into(),
                u16::MAX.into(),
                abi::fstflags::ALL.into(),
            )?;
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_filestat_set_times(fd as u32, atim as u64, mtim as u64, flags as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_pread",
        move |mut c: Caller<'_, T>, fd: i32, iovs: i32, iovs_len: i32, offset: i64, nread: i32| {
            call(&mut c, get, |mem, ctx| {
                let iovs = mem.iovecs(iovs as u32, iovs_len as u32)?;
                let want = abi::iovecs_len(&iovs)?.min(MAX_READ);
                let data = ctx.fd_pread(fd as u32, want, offset as u64)?;
                let n = mem.scatter(&iovs, &data)?;
                mem.write_u32(nread as u32, n as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_get",
        move |mut c: Caller<'_, T>, fd: i32, out: i32| {
            call(&mut c, get, |mem, ctx| {
                let name = ctx.fd_prestat_name(fd as u32)?;
                let len = u32::try_from(name.len()).map_err(|_| Errno::Overflow)?;
                let mut b = [0u8; 8];
                b[0] = PREOPENTYPE_DIR;
                b[4..8].copy_from_slice(&len.to_le_bytes());
                mem.write(out as u32, &b)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        move |mut c: Caller<'_, T>, fd: i32, path: i32, path_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let name = ctx.fd_prestat_dir_name(fd as u32)?;
                if name.len() > path_len as u32 as usize {
                    return Err(Errno::Nametoolong);
                }
                mem.write(path as u32, name.as_bytes())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_pwrite",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              iovs_len: i32,
              offset: i64,
              nwritten: i32| {
            call(&mut c, get, |mem, ctx| {
                let iovs = mem.iovecs(iovs as u32, iovs_len as u32)?;
                abi::iovecs_len(&iovs)?;
                let data = mem.gather(&iovs)?;
                let n = ctx.fd_pwrite(fd as u32, &data, offset as u64)?;
                mem.write_u32(nwritten as u32, n as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_read",
        move |mut c: Caller<'_, T>, fd: i32, iovs: i32, iovs_len: i32, nread: i32| {
            with_memory(&mut c, get, |mem, wasi| {
                code((|| {
                    let iovs = mem.iovecs(iovs as u32, iovs_len as u32)?;
                    let want = abi::iovecs_len(&iovs)?.min(MAX_READ);
                    let data = stream_or_locked(
                        wasi,
                        fd as u32,
                        |stdin| {
                            // Wasmtime's stdin answers a read of nothing `EINTR`.
                            if want == 0 && stdin.is_input() {
                                return Err(Errno::Intr);
                            }
                            let mut buf = vec![0u8; want];
                            let n = stdin.read(&mut buf)?;
                            buf.truncate(n);
                            Ok(buf)
                        },
                        |ctx| ctx.fd_read(fd as u32, want),
                    )?;
                    let n = mem.scatter(&iovs, &data)?;
                    mem.write_u32(nread as u32, n as u32)
                })())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_readdir",
        move |mut c: Caller<'_, T>, fd: i32, buf: i32, buf_len: i32, cookie: i64, used: i32| {
            call(&mut c, get, |mem, ctx| {
                mem.check(buf as u32, buf_len as u32)?;
                let data = ctx.fd_readdir(fd as u32, cookie as u64, buf_len as u32 as usize)?;
                mem.write(buf as u32, &data)?;
                mem.write_u32(used as u32, data.len() as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_renumber",
        move |mut c: Caller<'_, T>, fd: i32, to: i32| {
            call(&mut c, get, |_mem, ctx| {
                ctx.fd_renumber(fd as u32, to as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        move |mut c: Caller<'_, T>, fd: i32, offset: i64, whence: i32, out: i32| {
            enum_arg("fd_seek", "Whence", whence, u8::MAX.into(), 3)?;
            call(&mut c, get, |mem, ctx| {
                let pos = ctx.fd_seek(fd as u32, offset, whence as u32)?;
                mem.write_u64(out as u32, pos)
            })
        },
    )?;
    add_sync(linker, get, "fd_sync", WasiCtx::fd_sync)?;
    linker.func_wrap(
        MODULE,
        "fd_tell",
        move |mut c: Caller<'_, T>, fd: i32, out: i32| {
            call(&mut c, get, |mem, ctx| {
                let pos = ctx.fd_tell(fd as u32)?;
                mem.write_u64(out as u32, pos)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_write",
        move |mut c: Caller<'_, T>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| {
            with_memory(&mut c, get, |mem, wasi| {
                let mut to_stream = false;
                let result = (|| {
                    let iovs = mem.iovecs(iovs as u32, iovs_len as u32)?;
                    abi::iovecs_len(&iovs)?;
                    let data = mem.gather(&iovs)?;
                    let n = stream_or_locked(
                        wasi,
                        fd as u32,
                        |stream| {
                            to_stream = true;
                            stream.write(&data)
                        },
                        |ctx| ctx.fd_write(fd as u32, &data),
                    )?;
                    mem.write_u32(nwritten as u32, n as u32)
                })();
                // A stream cut at the output limit: the run ends here, as a trap would
                // end it, with what fitted written. (A file's own EFBIG is the module's.)
                if to_stream && result == Err(Errno::Fbig) {
                    if let Some(exceeded) = wasi.usage().output_limit_reached() {
                        return Err(wasmtime::Error::new(exceeded));
                    }
                }
                Ok(code(result))
            })?
        },
    )?;
    Ok(())
}

/// `fd_sync` or `fd_datasync` (`name`), by `op`: a file only (a stream or directory is
/// `EBADF`, as in Wasmtime), so nothing here waits on a stream.
fn add_sync<T: 'static>(
    linker: &mut Definer<'_, T>,
    get: Getter<T>,
    name: &str,
    op: fn(&mut WasiCtx, u32) -> WasiResult<()>,
) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, name, move |mut c: Caller<'_, T>, fd: i32| {
        call(&mut c, get, |_mem, ctx| op(ctx, fd as u32))
    })
}

/// path_* functions.
fn add_path<T: 'static>(linker: &mut Definer<'_, T>, get: Getter<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "path_create_directory",
        move |mut c: Caller<'_, T>, fd: i32, path: i32, path_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                ctx.path_create_directory(fd as u32, &path)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_filestat_get",
        move |mut c: Caller<'_, T>, fd: i32, flags: i32, path: i32, path_len: i32, out: i32| {
            flags_arg(
                "path_filestat_get",
                "Lookupflags",
                flags.into(),
                u32::MAX.into(),
                abi::lookupflags::ALL.into(),
            )?;
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                let stat = ctx.path_filestat_get(fd as u32, flags as u32, &path)?;
                mem.write(out as u32, &stat.to_bytes())
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_filestat_set_times",
        move |mut c: Caller<'_, T>,
              fd: i32,
              flags: i32,
              path: i32,
              path_len: i32,
              atim: i64,
              mtim: i64,
              fst: i32| {
            flags_arg(
                "path_filestat_set_times",
                "Lookupflags",
                flags.into(),
                u32::MAX.into(),
                abi::lookupflags::ALL.into(),
            )?;
            flags_arg(
                "path_filestat_set_times",
                "Fstflags",
                fst.into(),
                u16::MAX.into(),
                abi::fstflags::ALL.into(),
            )?;
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                ctx.path_filestat_set_times(
                    fd as u32,
                    flags as u32,
                    &path,
                    atim as u64,
                    mtim as u64,
                    fst as u32,
                )
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_link",
        move |mut c: Caller<'_, T>,
              old_fd: i32,
              old_flags: i32,
              old_path: i32,
              old_len: i32,
              new_fd: i32,
              new_path: i32,
              new_len: i32| {
            flags_arg(
                "path_link",
                "Lookupflags",
                old_flags.into(),
                u32::MAX.into(),
                abi::lookupflags::ALL.into(),
            )?;
            call(&mut c, get, |mem, ctx| {
                let old_path = mem.read_str(old_path as u32, old_len as u32)?;
                let new_path = mem.read_str(new_path as u32, new_len as u32)?;
                ctx.path_link(
                    old_fd as u32,
                    old_flags as u32,
                    &old_path,
                    new_fd as u32,
                    &new_path,
                )
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_open",
        move |mut c: Caller<'_, T>,
              fd: i32,
              dirflags: i32,
              path: i32,
              path_len: i32,
              oflags: i32,
              base: i64,
              inheriting: i64,
              fdflags: i32,
              out: i32| {
            flags_arg(
                "path_open",
                "Lookupflags",
                dirflags.into(),
                u32::MAX.into(),
                abi::lookupflags::ALL.into(),
            )?;
            flags_arg(
                "path_open",
                "Oflags",
                oflags.into(),
                u16::MAX.into(),
                abi::oflags::ALL.into(),
            )?;
            rights_arg("path_open", base)?;
            rights_arg("path_open", inheriting)?;
            flags_arg(
                "path_open",
                "Fdflags",
                fdflags.into(),
                u16::MAX.into(),
                abi::fdflags::ALL.into(),
            )?;
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                let new_fd = ctx.path_open(
                    fd as u32,
                    dirflags as u32,
                    &path,
                    oflags as u32,
                    base as u64,
                    inheriting as u64,
                    fdflags as u32,
                )?;
                mem.write_u32(out as u32, new_fd)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_readlink",
        move |mut c: Caller<'_, T>,
              fd: i32,
              path: i32,
              path_len: i32,
              buf: i32,
              buf_len: i32,
              used: i32| {
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                let target = ctx.path_readlink(fd as u32, &path)?;
                let n = target.len().min(buf_len as u32 as usize);
                mem.write(buf as u32, &target[..n])?;
                mem.write_u32(used as u32, n as u32)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_remove_directory",
        move |mut c: Caller<'_, T>, fd: i32, path: i32, path_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                ctx.path_remove_directory(fd as u32, &path)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_rename",
        move |mut c: Caller<'_, T>,
              fd: i32,
              old: i32,
              old_len: i32,
              new_fd: i32,
              new: i32,
              new_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let old = mem.read_str(old as u32, old_len as u32)?;
                let new = mem.read_str(new as u32, new_len as u32)?;
                ctx.path_rename(fd as u32, &old, new_fd as u32, &new)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_symlink",
        move |mut c: Caller<'_, T>, old: i32, old_len: i32, fd: i32, new: i32, new_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let old = mem.read_str(old as u32, old_len as u32)?;
                let new = mem.read_str(new as u32, new_len as u32)?;
                ctx.path_symlink(&old, fd as u32, &new)
            })
        },
    )?;
    linker.func_wrap(
        MODULE,
        "path_unlink_file",
        move |mut c: Caller<'_, T>, fd: i32, path: i32, path_len: i32| {
            call(&mut c, get, |mem, ctx| {
                let path = mem.read_str(path as u32, path_len as u32)?;
                ctx.path_unlink_file(fd as u32, &path)
            })
        },
    )?;
    Ok(())
}

/// poll_oneoff and the socket functions.
fn add_misc<T: 'static>(linker: &mut Definer<'_, T>, get: Getter<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "poll_oneoff",
        move |mut c: Caller<'_, T>, subs: i32, events: i32, count: i32, nevents: i32| {
            with_memory(&mut c, get, |mem, wasi| {
                code((|| {
                    let count = count as u32;
                    if count == 0 {
                        return Err(Errno::Inval);
                    }
                    let size = count.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::Fault)?;
                    let raw = mem.read(subs as u32, size)?;
                    let subs = raw
                        .chunks_exact(SUBSCRIPTION_SIZE as usize)
                        .map(Subscription::from_bytes)
                        .collect::<WasiResult<Vec<_>>>()?;
                    mem.check(
                        events as u32,
                        count.checked_mul(EVENT_SIZE).ok_or(Errno::Fault)?,
                    )?;
                    // The sleep happens with the context unlocked.
                    let pending = wasi.lock().poll_start(&subs)?;
                    let out = pending.wait();
                    for (i, event) in out.iter().enumerate() {
                        mem.write(events as u32 + i as u32 * EVENT_SIZE, &event.to_bytes())?;
                    }
                    mem.write_u32(nevents as u32, out.len() as u32)
                })())
            })
        },
    )?;
    // No socket is ever granted: an open fd is not a socket, anything else is EBADF.
    linker.func_wrap(
        MODULE,
        "sock_accept",
        move |mut c: Caller<'_, T>, fd: i32, _flags: i32, _out: i32| {
            call(&mut c, get, |_mem, ctx| ctx.not_a_socket(fd as u32))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "sock_recv",
        move |mut c: Caller<'_, T>,
              fd: i32,
              _ri: i32,
              _ri_len: i32,
              _flags: i32,
              _len_out: i32,
              _flags_out: i32| {
            call(&mut c, get, |_mem, ctx| ctx.not_a_socket(fd as u32))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "sock_send",
        move |mut c: Caller<'_, T>, fd: i32, _si: i32, _si_len: i32, _flags: i32, _len_out: i32| {
            call(&mut c, get, |_mem, ctx| ctx.not_a_socket(fd as u32))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "sock_shutdown",
        move |mut c: Caller<'_, T>, fd: i32, _how: i32| {
            call(&mut c, get, |_mem, ctx| ctx.not_a_socket(fd as u32))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{add_to_linker, Stdio, WasiConfig, FUNCTIONS};
    use super::*;
    use wasmtime::{Engine, Store, ValType};

    /// Core signatures from the witx of wasi_snapshot_preview1: `i` = i32, `l` = i64;
    /// every function but proc_exit returns an i32 errno.
    const SIGNATURES: &[(&str, &str)] = &[
        ("args_get", "ii"),
        ("args_sizes_get", "ii"),
        ("environ_get", "ii"),
        ("environ_sizes_get", "ii"),
        ("clock_res_get", "ii"),
        ("clock_time_get", "ili"),
        ("fd_advise", "illi"),
        ("fd_allocate", "ill"),
        ("fd_close", "i"),
        ("fd_datasync", "i"),
        ("fd_fdstat_get", "ii"),
        ("fd_fdstat_set_flags", "ii"),
        ("fd_fdstat_set_rights", "ill"),
        ("fd_filestat_get", "ii"),
        ("fd_filestat_set_size", "il"),
        ("fd_filestat_set_times", "illi"),
        ("fd_pread", "iiili"),
        ("fd_prestat_get", "ii"),
        ("fd_prestat_dir_name", "iii"),
        ("fd_pwrite", "iiili"),
        ("fd_read", "iiii"),
        ("fd_readdir", "iiili"),
        ("fd_renumber", "ii"),
        ("fd_seek", "ilii"),
        ("fd_sync", "i"),
        ("fd_tell", "ii"),
        ("fd_write", "iiii"),
        ("path_create_directory", "iii"),
        ("path_filestat_get", "iiiii"),
        ("path_filestat_set_times", "iiiilli"),
        ("path_link", "iiiiiii"),
        ("path_open", "iiiiillii"),
        ("path_readlink", "iiiiii"),
        ("path_remove_directory", "iii"),
        ("path_rename", "iiiiii"),
        ("path_symlink", "iiiii"),
        ("path_unlink_file", "iii"),
        ("poll_oneoff", "iiii"),
        ("proc_exit", "i"),
        ("proc_raise", "i"),
        ("sched_yield", ""),
        ("random_get", "ii"),
        ("sock_accept", "iii"),
        ("sock_recv", "iiiiii"),
        ("sock_send", "iiiii"),
        ("sock_shutdown", "ii"),
    ];

    #[test]
    fn every_function_is_defined_with_its_witx_signature() {
        assert_eq!(FUNCTIONS.len(), 46);
        assert_eq!(SIGNATURES.len(), 46);
        let engine = Engine::default();
        let mut linker: Linker<SharedWasi> = Linker::new(&engine);
        add_to_linker(&mut linker, |wasi| wasi, &|_| true).unwrap();
        let ctx = WasiCtx::new(
            WasiConfig::default(),
            Stdio {
                stdin: Box::new(std::io::empty()),
                stdout: Box::new(std::io::sink()),
                stderr: Box::new(std::io::sink()),
                terminal: [false; 3],
            },
        )
        .unwrap();
        let mut store = Store::new(&engine, SharedWasi::new(ctx));
        for (name, (sig_name, params)) in FUNCTIONS.iter().zip(SIGNATURES) {
            assert_eq!(
                name, sig_name,
                "FUNCTIONS and SIGNATURES are in the same order"
            );
            let func = linker
                .get(&mut store, MODULE, name)
                .ok()
                .and_then(Extern::into_func)
                .unwrap_or_else(|| panic!("{name} is not defined"));
            let ty = func.ty(&store);
            let got: String = ty
                .params()
                .map(|p| match p {
                    ValType::I32 => 'i',
                    ValType::I64 => 'l',
                    other => panic!("{name}: unexpected parameter type {other}"),
                })
                .collect();
            assert_eq!(&got, params, "{name} parameters");
            let results: Vec<_> = ty.results().collect();
            if *name == "proc_exit" {
                assert!(results.is_empty(), "proc_exit returns nothing");
            } else {
                assert!(
                    results.len() == 1 && matches!(results[0], ValType::I32),
                    "{name} returns one i32 errno"
                );
            }
        }
    }
}
