//! `gbr`: the command-line client of glacier-bulk-restore.

mod api_client;
mod args;
mod commands;
mod error;
mod manifest_upload;
mod object_heads;
mod render;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match commands::run(args::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
