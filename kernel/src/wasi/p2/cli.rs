//! `wasi:cli`: arguments and environment, exit, the standard streams and whether they are
//! terminals. Everything comes from the same context as for preview1.

use std::sync::Arc;

use wasmtime::component::Resource;

use super::bindings::wasi::cli::{
    environment, exit, stderr, stdin, stdout, terminal_input, terminal_output, terminal_stderr,
    terminal_stdin, terminal_stdout,
};
use super::io::{InputStream, OutputStream};
use super::stdin::StdinPump;
use super::WasiP2;
use crate::wasi::Exit;

/// A `terminal-input`: stdin is a terminal.
#[derive(Debug)]
pub struct TerminalInput;

/// A `terminal-output`: stdout or stderr is a terminal.
#[derive(Debug)]
pub struct TerminalOutput;

impl environment::Host for WasiP2 {
    fn get_environment(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .ctx
            .env
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (pair.clone(), String::new()),
            })
            .collect())
    }

    fn get_arguments(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.ctx.args.clone())
    }

    /// None, as `wasmtime run` answers: the guest has no working directory of its own.
    fn initial_cwd(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
}

impl exit::Host for WasiP2 {
    fn exit(&mut self, status: Result<(), ()>) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(if status.is_ok() {
            0
        } else {
            1
        })))
    }

    fn exit_with_code(&mut self, code: u8) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(Exit(i32::from(code))))
    }
}

impl stdin::Host for WasiP2 {
    fn get_stdin(&mut self) -> wasmtime::Result<Resource<InputStream>> {
        let pump = match &self.stdin {
            Some(pump) => Arc::clone(pump),
            None => {
                let pump = StdinPump::new(self.stdio[0].clone());
                self.stdin = Some(Arc::clone(&pump));
                pump
            }
        };
        Ok(self.table.push(InputStream::Stdin(pump))?)
    }
}

impl stdout::Host for WasiP2 {
    fn get_stdout(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        Ok(self.table.push(OutputStream::Std(self.stdio[1].clone()))?)
    }
}

impl stderr::Host for WasiP2 {
    fn get_stderr(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        Ok(self.table.push(OutputStream::Std(self.stdio[2].clone()))?)
    }
}

impl terminal_input::Host for WasiP2 {}

impl terminal_input::HostTerminalInput for WasiP2 {
    fn drop(&mut self, terminal: Resource<TerminalInput>) -> wasmtime::Result<()> {
        self.table.delete(terminal)?;
        Ok(())
    }
}

impl terminal_output::Host for WasiP2 {}

impl terminal_output::HostTerminalOutput for WasiP2 {
    fn drop(&mut self, terminal: Resource<TerminalOutput>) -> wasmtime::Result<()> {
        self.table.delete(terminal)?;
        Ok(())
    }
}

impl terminal_stdin::Host for WasiP2 {
    fn get_terminal_stdin(&mut self) -> wasmtime::Result<Option<Resource<TerminalInput>>> {
        if !self.stdio[0].is_terminal() {
            return Ok(None);
        }
        Ok(Some(self.table.push(TerminalInput)?))
    }
}

impl terminal_stdout::Host for WasiP2 {
    fn get_terminal_stdout(&mut self) -> wasmtime::Result<Option<Resource<TerminalOutput>>> {
        self.terminal_output(1)
    }
}

impl terminal_stderr::Host for WasiP2 {
    fn get_terminal_stderr(&mut self) -> wasmtime::Result<Option<Resource<TerminalOutput>>> {
        self.terminal_output(2)
    }
}

impl WasiP2 {
    fn terminal_output(&mut self, fd: usize) -> wasmtime::Result<Option<Resource<TerminalOutput>>> {
        if !self.stdio[fd].is_terminal() {
            return Ok(None);
        }
        Ok(Some(self.table.push(TerminalOutput)?))
    }
}
