//! submit-batch-job: one S3 Batch Operations restore job per bulk job.

use serde::{Deserialize, Serialize};

use super::{Ports, TaskError, load_job, update_job};
use crate::job::{JobPatch, JobRecord};
use crate::ports::{BatchJobSpec, BatchManifest, PortError};
use crate::request::ManifestFormat;
use crate::status::{BatchJobStatus, JobStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitInput {
    pub job_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOutput {
    pub batch_job_id: String,
}

/// Submits the batch job, or returns the one already submitted: the bulk job id is the
/// request token, so a retry after a lost answer never creates a second batch job. A
/// job that has ended gets none, and one cancelled meanwhile gets its batch job
/// cancelled.
pub async fn submit_batch_job(
    ports: &Ports,
    input: &SubmitInput,
) -> Result<SubmitOutput, TaskError> {
    let job = load_job(ports, &input.job_id).await?;
    let batch_job_id = match (job.batch_job_id.clone(), job.request.manifest_format) {
        (Some(id), ManifestFormat::Generated) => {
            confirm(ports, &job, &id).await?;
            id
        }
        (Some(id), _) => id,
        (None, ManifestFormat::Generated) => {
            return Err(TaskError::InvalidInput(format!(
                "job {} has no batch job generating its list",
                job.job_id
            )));
        }
        (None, _) => submit(ports, &job).await?,
    };
    // A cancel that claimed the job while the batch job was being created may have read
    // the record before the batch job id was in it: then cancelling it is left to us.
    let current = load_job(ports, &input.job_id).await?;
    if current
        .terminal
        .is_some_and(|t| t.status == JobStatus::Cancelled)
    {
        match ports.batch.cancel_job(&batch_job_id).await {
            Ok(()) | Err(PortError::Conflict(_) | PortError::NotFound(_)) => {}
            Err(PortError::Retryable(m)) => return Err(TaskError::Retryable(m)),
            Err(e) => {
                return Err(TaskError::BatchJobRejected(format!(
                    "job {} was cancelled, and its batch job {batch_job_id} could not be: {e}",
                    job.job_id
                )));
            }
        }
    }
    Ok(SubmitOutput { batch_job_id })
}

/// Runs a batch job that generated its list and waits, held, for every listed object
/// to be registered (see register-manifest). A retry after a lost answer finds the
/// job past `Suspended`, which is success.
async fn confirm(ports: &Ports, job: &JobRecord, batch_job_id: &str) -> Result<(), TaskError> {
    // Ended (cancelled) while the list was generated: the held job never runs.
    if let Some(t) = &job.terminal {
        return Err(TaskError::JobEnded(job.job_id.clone(), t.status));
    }
    // Only a list read through may run: every restore must find its row.
    if job.objects_total.is_none() || job.batch_manifest.is_none() {
        return Err(TaskError::InvalidInput(format!(
            "job {}'s generated list is not registered yet; batch job {batch_job_id} stays held",
            job.job_id
        )));
    }
    let refused = |e: PortError| {
        TaskError::from_port(e, |other| {
            TaskError::BatchJobRejected(format!(
                "S3 Batch Operations would not run batch job {batch_job_id}: {other}"
            ))
        })
    };
    match ports.batch.confirm_job(batch_job_id).await {
        Ok(()) => Ok(()),
        Err(PortError::Conflict(m)) => {
            let info = ports
                .batch
                .describe_job(batch_job_id)
                .await
                .map_err(refused)?;
            match info.status {
                BatchJobStatus::Suspended => Err(TaskError::Retryable(m)),
                _ => Ok(()),
            }
        }
        Err(e) => Err(refused(e)),
    }
}

/// Creates the batch job and records its id.
async fn submit(ports: &Ports, job: &JobRecord) -> Result<String, TaskError> {
    // Ended (cancelled) before its batch job existed: restore nothing.
    if let Some(t) = &job.terminal {
        return Err(TaskError::JobEnded(job.job_id.clone(), t.status));
    }
    let unregistered =
        || TaskError::InvalidInput(format!("job {} has no registered manifest", job.job_id));
    // The manifest this system wrote (of an inventory's archived objects), else the
    // request's own.
    let (bucket, key, etag, versioned) = match (&job.request.manifest_format, &job.batch_manifest) {
        (ManifestFormat::Generated, _) => return Err(unregistered()),
        (_, Some(m)) => (m.bucket.clone(), m.key.clone(), m.etag.clone(), m.versioned),
        (ManifestFormat::Inventory, None) => return Err(unregistered()),
        (ManifestFormat::Csv, None) => (
            job.request.bucket.clone(),
            job.request.key.clone(),
            job.manifest_etag.clone().ok_or_else(unregistered)?,
            job.manifest_versioned.unwrap_or(false),
        ),
    };
    let spec = BatchJobSpec {
        job_id: job.job_id.clone(),
        manifest: BatchManifest::Csv {
            bucket,
            key,
            etag,
            versioned,
        },
        tier: job.request.tier,
        expiration_days: job.request.expiration_days,
        client_tag: job.request.client_tag.clone(),
    };
    let batch_job_id = ports.batch.create_job(&spec).await.map_err(|e| {
        TaskError::from_port(e, |other| {
            TaskError::BatchJobRejected(format!(
                "S3 Batch Operations refused the restore job: {other}"
            ))
        })
    })?;
    let patch = JobPatch {
        batch_job_id: Some(batch_job_id.clone()),
        ..JobPatch::default()
    };
    update_job(ports, &job.job_id, &patch).await?;
    Ok(batch_job_id)
}
