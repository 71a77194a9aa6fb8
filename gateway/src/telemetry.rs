//! Tracing, set up once per process: `RUST_LOG` filters (default `info`), lines go to stderr so
//! that stdout stays free for the operator CLI's JSON, coloured only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log written to a file or a pipe carries no ANSI escape codes.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
