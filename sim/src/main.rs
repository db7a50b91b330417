//! `sim`: run, explore and replay prodsim scenarios. The command-line code
//! lives in [`cli`]; this is only the binary's entry.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`| head`) panics.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
