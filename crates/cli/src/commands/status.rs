//! `gbr status JOB_ID`.

use std::process::ExitCode;

use super::say;
use crate::api_client::ApiClient;
use crate::error::CliError;
use crate::render;

pub async fn run(client: &ApiClient, job_id: &str, json: bool) -> Result<ExitCode, CliError> {
    let answer = client.get_job(job_id).await?;
    if json {
        say(&answer.raw)?;
    } else {
        say(render::details(&answer.value))?;
    }
    Ok(ExitCode::SUCCESS)
}
