//! register-manifest for a filter: S3 Batch Operations' manifest generator lists the
//! objects, and every one is registered before any restore can start.
//!
//! The batch job is created first, with its `ManifestGenerator` and
//! `ConfirmationRequired`. S3 generates and counts the list while the job is
//! `Preparing`, then holds it in `Suspended` until it is confirmed (S3 User Guide,
//! *Tracking job status*: "the job transitions from Preparing to Suspended. It remains
//! in the Suspended state until you confirm that you want to run it"). These calls
//! wait for that, read the generated list (`GeneratedManifestDescriptor`) as the
//! inventory-shaped report it is, register its objects, and submit-batch-job confirms
//! the job (`UpdateJobStatus` to `Ready`). No restore event can come for an object the
//! job has not registered.

use super::register::{RegisterInput, RegisterOutput};
use super::register_inventory::{Report, register_inventory};
use super::{Ports, Settings, TaskError, load_job, update_job};
use crate::job::{JobPatch, JobRecord, WrittenManifest};
use crate::list_source::ListFile;
use crate::object_id::ObjectId;
use crate::policy::poll_interval;
use crate::ports::{ArchiveState, BatchJobInfo, BatchJobSpec, BatchManifest, PortError};
use crate::status::BatchJobStatus;

/// Where the generator of a job writes its list, under the deployment's report prefix.
fn generated_list_prefix(settings: &Settings, job_id: &str) -> String {
    format!("{}/generated/{job_id}", settings.report_prefix)
}

pub(super) async fn register_generated(
    ports: &Ports,
    settings: &Settings,
    input: &RegisterInput,
    job: &JobRecord,
) -> Result<RegisterOutput, TaskError> {
    // Reading is under way: the list's place is on the job.
    if let (Some(_), Some(list)) = (&input.cursor, &job.batch_manifest) {
        let file = ListFile::new(&list.bucket, &list.key);
        return register_inventory(ports, settings, input, job, Report::Generated(file)).await;
    }
    let batch_job_id = match &job.batch_job_id {
        Some(id) => id.clone(),
        None => start_generation(ports, settings, job).await?,
    };
    let info = ports
        .batch
        .describe_job(&batch_job_id)
        .await
        .map_err(|e| batch_error(e, &batch_job_id))?;
    // So that the job's view shows the list being generated, then held.
    if job.batch_status != Some(info.status) {
        let patch = JobPatch {
            batch_status: Some(info.status),
            ..JobPatch::default()
        };
        update_job(ports, &job.job_id, &patch).await?;
    }
    use BatchJobStatus as S;
    let list = match (info.status, &info.generated_manifest) {
        (S::New | S::Preparing, _) | (S::Suspended, None) => {
            return wait(ports, job, &batch_job_id).await;
        }
        (S::Suspended, Some(list)) => list.clone(),
        (S::Failing | S::Failed | S::Cancelling | S::Cancelled, _) => {
            return Err(generation_failed(job, &batch_job_id, &info));
        }
        // Run without our confirmation (by someone else, or S3 ignored the flag):
        // restores may have begun, and an event that came before its object was
        // registered is found by reconciliation's HeadObject at the end.
        (_, Some(list)) => {
            tracing::warn!(
                job_id = %job.job_id,
                batch_job_id,
                status = info.status.as_str(),
                "the batch job ran before its list was registered; reconciliation will find restores whose events came first"
            );
            list.clone()
        }
        (_, None) => {
            return Err(TaskError::BatchJobRejected(format!(
                "batch job {batch_job_id} is {} but shows no generated list; it cannot be counted",
                info.status.as_str()
            )));
        }
    };
    let patch = JobPatch {
        batch_manifest: Some(WrittenManifest {
            bucket: list.bucket.clone(),
            key: list.key.clone(),
            etag: list.etag.clone(),
            versioned: false,
        }),
        ..JobPatch::default()
    };
    update_job(ports, &job.job_id, &patch).await?;
    let job = load_job(ports, &job.job_id).await?;
    let file = ListFile::new(&list.bucket, &list.key);
    register_inventory(ports, settings, input, &job, Report::Generated(file)).await
}

/// Creates the batch job that generates the list (idempotent on the job id).
async fn start_generation(
    ports: &Ports,
    settings: &Settings,
    job: &JobRecord,
) -> Result<String, TaskError> {
    if let Some(t) = &job.terminal {
        return Err(TaskError::JobEnded(job.job_id.clone(), t.status));
    }
    let Some(filter) = job.request.filter.clone() else {
        return Err(TaskError::InvalidInput(format!(
            "job {} restores by filter but records none",
            job.job_id
        )));
    };
    let spec = BatchJobSpec {
        job_id: job.job_id.clone(),
        manifest: BatchManifest::Generate {
            filter,
            output_bucket: settings.report_bucket.clone(),
            output_prefix: generated_list_prefix(settings, &job.job_id),
        },
        tier: job.request.tier,
        expiration_days: job.request.expiration_days,
        client_tag: job.request.client_tag.clone(),
    };
    let batch_job_id = ports.batch.create_job(&spec).await.map_err(|e| {
        TaskError::from_port(e, |other| {
            TaskError::BatchJobRejected(format!(
                "S3 Batch Operations refused the job that lists {}: {other}",
                job.request
                    .filter
                    .as_ref()
                    .map(|f| f.location())
                    .unwrap_or_default()
            ))
        })
    })?;
    let patch = JobPatch {
        batch_job_id: Some(batch_job_id.clone()),
        ..JobPatch::default()
    };
    update_job(ports, &job.job_id, &patch).await?;
    // A cancel that claimed the job while the batch job was created may have read the
    // record before its id was in it: then cancelling the held batch job is left to us.
    let current = load_job(ports, &job.job_id).await?;
    if let Some(t) = &current.terminal {
        match ports.batch.cancel_job(&batch_job_id).await {
            Ok(()) | Err(PortError::Conflict(_) | PortError::NotFound(_)) => {}
            Err(e) => return Err(batch_error(e, &batch_job_id)),
        }
        return Err(TaskError::JobEnded(job.job_id.clone(), t.status));
    }
    Ok(batch_job_id)
}

/// Not listed yet: call again later, unless the job's deadline has passed.
async fn wait(
    ports: &Ports,
    job: &JobRecord,
    batch_job_id: &str,
) -> Result<RegisterOutput, TaskError> {
    if ports.clock.now() >= job.deadline {
        // The held job must not run unwatched; a failed cancel is retried by the state
        // machine's failure path, which cancels the batch job too.
        match ports.batch.cancel_job(batch_job_id).await {
            Ok(()) | Err(PortError::Conflict(_) | PortError::NotFound(_)) => {}
            Err(e) => return Err(batch_error(e, batch_job_id)),
        }
        return Err(TaskError::BatchJobRejected(format!(
            "S3 had not generated the list of batch job {batch_job_id} by the job's deadline {}; the batch job was cancelled",
            job.deadline
        )));
    }
    // As the batch job is polled later: the same floor and the same budget of polls
    // over the job's span, so generation and restores together stay within the
    // execution's history limit.
    let now = ports.clock.now();
    let wait = poll_interval(job.created_at, job.deadline, now, true);
    Ok(RegisterOutput {
        done: false,
        cursor: None,
        rows: 0,
        objects_total: None,
        wait_seconds: wait.as_secs().max(1),
    })
}

/// Checks a generated list read through, before its count is recorded (which lets
/// submit-batch-job run the job). The rows read must be the batch job's tasks: a count
/// that differs from the one S3 gives means rows were lost or misread. And the keys
/// must be S3's: the list's key encoding is not documented, so a few keys another
/// decoding would change (`+`, spaces) are looked up; one missing means every event
/// would miss its row.
pub(super) async fn verify(
    ports: &Ports,
    job: &JobRecord,
    rows: u64,
    probes: &[ObjectId],
) -> Result<(), TaskError> {
    let Some(batch_job_id) = &job.batch_job_id else {
        return Err(TaskError::InvalidInput(format!(
            "job {} read a generated list but has no batch job",
            job.job_id
        )));
    };
    let info = ports
        .batch
        .describe_job(batch_job_id)
        .await
        .map_err(|e| batch_error(e, batch_job_id))?;
    // S3 may not give the count before the job runs; 0 is "not given".
    if info.tasks_total > 0 && info.tasks_total != rows {
        return Err(TaskError::ManifestUnreadable(format!(
            "the generated list of batch job {batch_job_id} has {rows} rows, but S3 counts {} tasks; create the job again",
            info.tasks_total
        )));
    }
    for object in probes {
        let state = ports.inspector.inspect(object).await.map_err(|e| {
            TaskError::from_port(e, |other| {
                TaskError::ManifestUnreadable(format!(
                    "{object} of the generated list cannot be looked up: {other}"
                ))
            })
        })?;
        if state == ArchiveState::Missing {
            return Err(TaskError::ManifestUnreadable(format!(
                "the generated list of batch job {batch_job_id} names {object}, which does not exist as decoded: the list's keys are encoded in a way this version does not read; nothing was restored"
            )));
        }
    }
    Ok(())
}

fn generation_failed(job: &JobRecord, batch_job_id: &str, info: &BatchJobInfo) -> TaskError {
    if let Some(t) = &job.terminal {
        return TaskError::JobEnded(job.job_id.clone(), t.status);
    }
    let reasons = match info.failure_reasons.is_empty() {
        true => "S3 gave no reason".to_owned(),
        false => info.failure_reasons.join("; "),
    };
    TaskError::BatchJobRejected(format!(
        "batch job {batch_job_id} ended as {} while generating the list of {}: {reasons}",
        info.status.as_str(),
        job.request
            .filter
            .as_ref()
            .map(|f| f.location())
            .unwrap_or_default()
    ))
}

fn batch_error(e: PortError, batch_job_id: &str) -> TaskError {
    TaskError::from_port(e, |other| {
        TaskError::BatchJobRejected(format!("batch job {batch_job_id}: {other}"))
    })
}
