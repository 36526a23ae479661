//! `gbr cancel JOB_ID`.

use std::process::ExitCode;

use super::say;
use crate::api_client::ApiClient;
use crate::error::CliError;
use crate::render;

pub async fn run(client: &ApiClient, job_id: &str, json: bool) -> Result<ExitCode, CliError> {
    let answer = client.cancel_job(job_id).await?;
    if json {
        say(&answer.raw)?;
    } else {
        let view = &answer.value;
        say(format!(
            "job {} {}: {}",
            view.job_id,
            view.status,
            render::progress(view)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
