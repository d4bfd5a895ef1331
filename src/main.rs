//! The `caios-pack` command line: parses arguments, runs the subcommand
//! (`caios_pack::cli`), maps errors to exit codes (0 ok, 1 constraints
//! cannot be met, 2 bad input, 3 I/O or internal failure).

use caios_pack::cli::{self, Cli};
use clap::Parser;
use std::process::ExitCode;

// Parsing thousands of files allocates millions of small AST nodes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(&cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("caios-pack: error: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
