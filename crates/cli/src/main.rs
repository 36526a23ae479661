//! `gbr`: the command-line client of glacier-bulk-restore.

mod manifest_check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gbr",
    version,
    about = "Restore large sets of objects from S3 Glacier and Deep Archive"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with Batch Operations manifests.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// Check a CSV manifest before paying for a batch job: counts objects, buckets and
    /// duplicates and lists every malformed line. Exits 0 only when it is valid.
    Check {
        /// The manifest file (`bucket,key[,version_id]` rows, keys URL-encoded).
        file: PathBuf,
        /// Print one JSON object per distinct object, then one summary object.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Manifest {
            command: ManifestCommand::Check { file, json },
        } => manifest_check::run(&file, json),
    }
}
