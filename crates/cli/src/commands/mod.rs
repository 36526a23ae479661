//! One module per subcommand; [`run`] picks the one asked for.

mod cancel;
mod create;
mod estimate;
mod inventory_check;
mod job;
mod list;
pub mod manifest_check;
pub mod report;
mod status;
mod watch;

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

use crate::api_client::ApiClient;
use crate::args::{Cli, Command, GlobalArgs, ManifestCommand};
use crate::error::CliError;
use crate::settings::{self, Flags};

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let Cli { global, command } = cli;
    let json = global.json;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    match command {
        // These read files and S3 only: they need no endpoint.
        Command::Manifest {
            command:
                ManifestCommand::Check {
                    source,
                    aws_endpoint_url,
                },
        } => Ok(runtime.block_on(manifest_check::run(
            source,
            aws_endpoint_url.as_deref(),
            json,
        ))),
        Command::Report {
            source,
            aws_endpoint_url,
        } => Ok(runtime.block_on(report::run(source, aws_endpoint_url.as_deref(), json))),
        // A local manifest is estimated without the API.
        Command::Estimate(args) => runtime.block_on(estimate::run(|| connect(global), args, json)),
        command => {
            let client = connect(global)?;
            runtime.block_on(async {
                match command {
                    Command::Create(args) => create::run(&client, args, json).await,
                    Command::Status { job_id } => status::run(&client, &job_id, json).await,
                    Command::Cancel { job_id } => cancel::run(&client, &job_id, json).await,
                    Command::List(args) => list::run(&client, args, json).await,
                    Command::Watch { job_id, interval } => {
                        watch::run(&client, &job_id, interval, json).await
                    }
                    Command::Manifest { .. } | Command::Report { .. } | Command::Estimate(_) => {
                        Ok(ExitCode::SUCCESS)
                    }
                }
            })
        }
    }
}

/// The API's client, from the settings found (flags, environment, config file).
fn connect(global: GlobalArgs) -> Result<ApiClient, CliError> {
    let settings = settings::from_environment(&Flags {
        endpoint: global.endpoint,
        api_key: global.api_key,
    })?;
    Ok(ApiClient::new(&settings)?)
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
