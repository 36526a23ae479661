//! One module per subcommand; [`run`] picks the one asked for.

mod cancel;
mod create;
mod list;
pub mod manifest_check;
pub mod report;
mod status;
mod watch;

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

use crate::api_client::ApiClient;
use crate::args::{Cli, Command, ManifestCommand};
use crate::error::CliError;
use crate::settings::{self, Flags};

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let Cli { global, command } = cli;
    let json = global.json;
    let command = match command {
        // Local only: needs no endpoint.
        Command::Manifest {
            command: ManifestCommand::Check { file },
        } => return Ok(manifest_check::run(&file, json)),
        Command::Report {
            source,
            aws_endpoint_url,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(CliError::Runtime)?;
            return Ok(runtime.block_on(report::run(source, aws_endpoint_url.as_deref(), json)));
        }
        other => other,
    };
    let settings = settings::from_environment(&Flags {
        endpoint: global.endpoint,
        api_key: global.api_key,
    })?;
    let client = ApiClient::new(&settings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        match command {
            Command::Create(args) => create::run(&client, args, json).await,
            Command::Status { job_id } => status::run(&client, &job_id, json).await,
            Command::Cancel { job_id } => cancel::run(&client, &job_id, json).await,
            Command::List(args) => list::run(&client, args, json).await,
            Command::Watch { job_id, interval } => {
                watch::run(&client, &job_id, interval, json).await
            }
            Command::Manifest { .. } | Command::Report { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Writes one line (or block) to standard output.
fn say(text: impl Display) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// A note for a person, on standard error so that standard output stays the answer.
fn note(text: impl Display) {
    eprintln!("{text}");
}
