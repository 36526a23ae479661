//! `gbr list`: a page of jobs, or every page with `--all`.

use std::process::ExitCode;

use serde_json::json;

use super::{note, say};
use crate::api_client::{ApiClient, ListParams};
use crate::args::ListArgs;
use crate::error::CliError;
use crate::render;

pub async fn run(client: &ApiClient, args: ListArgs, json: bool) -> Result<ExitCode, CliError> {
    let mut params = ListParams {
        client_tag: args.client_tag,
        status: args.status,
        limit: args.limit,
        next_token: args.next_token,
    };
    let mut jobs = Vec::new();
    let mut raw_jobs = Vec::new();
    let next = loop {
        let answer = client.list_jobs(&params).await?;
        if !args.all {
            // One page: the answer as it came.
            if json {
                say(&answer.raw)?;
            } else {
                print_table(&answer.value.jobs)?;
                if let Some(token) = &answer.value.next_token {
                    note(format!(
                        "more jobs: add --next-token {token} (or use --all for every page)"
                    ));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(page) = answer.raw.get("Jobs").and_then(|j| j.as_array()) {
            raw_jobs.extend(page.iter().cloned());
        }
        jobs.extend(answer.value.jobs);
        match answer.value.next_token {
            // A token that does not move on would loop for ever.
            Some(token) if params.next_token.as_deref() != Some(token.as_str()) => {
                params.next_token = Some(token);
            }
            other => break other,
        }
    };
    if json {
        say(json!({ "Jobs": raw_jobs, "NextToken": next }))?;
    } else {
        print_table(&jobs)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(jobs: &[gbr_core::api::JobView]) -> Result<(), CliError> {
    if jobs.is_empty() {
        say("no jobs")
    } else {
        say(render::table(jobs))
    }
}
