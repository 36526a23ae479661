//! Glacier's side of a restore: how long one takes, what S3 answers a RestoreObject
//! request, and which objects are being restored right now.
//!
//! moto restores an object the instant it is asked to, so it cannot say that a restore
//! is under way; the simulator keeps that knowledge here and asks moto only for what
//! it does know (does the object exist, in which class, is a restored copy there).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use gbr_core::object_id::ObjectId;
use gbr_core::policy;
use gbr_core::request::{StorageClass, Tier};
use jiff::{SignedDuration, Timestamp};

/// The published restore window of a class and tier ([`policy::restore_window`]), as
/// the simulator's clock counts.
pub fn restore_window(class: StorageClass, tier: Tier) -> (SignedDuration, SignedDuration) {
    let (low, high) = policy::restore_window(class, tier);
    let signed = |d| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    (signed(low), signed(high))
}

/// What a HeadObject on moto found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// In a class RestoreObject refuses (STANDARD, GLACIER_IR, …).
    NotArchived(String),
    /// In an archive class, with no restored copy and no restore under way.
    Archived(StorageClass),
    /// `x-amz-restore: ongoing-request="true"`.
    Restoring(StorageClass),
    /// `x-amz-restore: ongoing-request="false", …`: a restored copy is available.
    Restored(StorageClass),
    /// HeadObject failed otherwise (access denied, a server error after retries…).
    Unreadable {
        http_status: u16,
        code: String,
        message: String,
    },
}

impl Found {
    /// Reads HeadObject's storage class and `x-amz-restore` header.
    pub fn from_head(storage_class: Option<&str>, restore: Option<&str>) -> Self {
        // HeadObject leaves the header out for STANDARD objects.
        let class = match storage_class.unwrap_or("STANDARD") {
            "GLACIER" => StorageClass::Glacier,
            "DEEP_ARCHIVE" => StorageClass::DeepArchive,
            other => return Found::NotArchived(other.to_owned()),
        };
        match restore.map(|h| h.replace(' ', "")) {
            Some(h) if h.contains("ongoing-request=\"true\"") => Found::Restoring(class),
            Some(h) if h.contains("ongoing-request=\"false\"") => Found::Restored(class),
            _ => Found::Archived(class),
        }
    }
}

/// One task's result, as the completion report records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAnswer {
    pub succeeded: bool,
    pub http_status: u16,
    pub error_code: String,
    pub message: String,
}

impl TaskAnswer {
    fn success(http_status: u16) -> Self {
        Self {
            succeeded: true,
            http_status,
            error_code: String::new(),
            message: "Successful".into(),
        }
    }

    fn failure(http_status: u16, code: &str, message: &str) -> Self {
        Self {
            succeeded: false,
            http_status,
            error_code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    /// 202: a restore was started.
    pub fn started() -> Self {
        Self::success(202)
    }

    /// 200: a restored copy already exists; no Completed event will come.
    pub fn already_restored() -> Self {
        Self::success(200)
    }

    /// 409: a restore is under way; its Completed event will come.
    pub fn in_progress() -> Self {
        Self::failure(
            409,
            "RestoreAlreadyInProgress",
            "Object restore is already in progress",
        )
    }

    pub fn no_such_key() -> Self {
        Self::failure(404, "NoSuchKey", "The specified key does not exist.")
    }

    pub fn no_such_version() -> Self {
        Self::failure(
            404,
            "NoSuchVersion",
            "The specified version does not exist.",
        )
    }

    pub fn invalid_object_state(class: &str) -> Self {
        Self::failure(
            403,
            "InvalidObjectState",
            &format!("The operation is not valid for the object's storage class {class}"),
        )
    }

    pub fn unreadable(http_status: u16, code: &str, message: &str) -> Self {
        Self::failure(http_status, code, message)
    }
}

/// What the simulator decides for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer and do nothing more.
    Answer(TaskAnswer),
    /// 202: schedule a restore of an object in this class.
    Start(StorageClass),
    /// 409 for a restore the setup marked and no job has taken on yet: this job
    /// completes it at its instant.
    TakeOver(Timestamp),
}

/// A restore under way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Restoring {
    completes_at: Timestamp,
    /// The batch job whose timer queue completes it; `None` for a restore the local
    /// stack's setup marked, until a job meets the object.
    owner: Option<String>,
}

/// The objects being restored, across all batch jobs of a simulator.
#[derive(Debug, Default)]
pub struct GlacierModel {
    restoring: Mutex<HashMap<ObjectId, Restoring>>,
}

impl GlacierModel {
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectId, Restoring>> {
        // Every update is one map operation, so a poisoned map is still consistent.
        self.restoring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a restore that was requested before the simulation began.
    pub fn mark_restoring(&self, object: ObjectId, completes_at: Timestamp) {
        self.lock().insert(
            object,
            Restoring {
                completes_at,
                owner: None,
            },
        );
    }

    /// Decides what RestoreObject answers for `object`, given what HeadObject found,
    /// and records a restore that `job` starts or takes over.
    pub fn decide(&self, object: &ObjectId, found: &Found, job: &str) -> Decision {
        let class = match found {
            Found::Missing if object.version_id().is_some() => {
                return Decision::Answer(TaskAnswer::no_such_version());
            }
            Found::Missing => return Decision::Answer(TaskAnswer::no_such_key()),
            Found::NotArchived(class) => {
                return Decision::Answer(TaskAnswer::invalid_object_state(class));
            }
            Found::Unreadable {
                http_status,
                code,
                message,
            } => return Decision::Answer(TaskAnswer::unreadable(*http_status, code, message)),
            Found::Restoring(_) => return Decision::Answer(TaskAnswer::in_progress()),
            Found::Archived(class) | Found::Restored(class) => *class,
        };
        let mut restoring = self.lock();
        if let Some(r) = restoring.get_mut(object) {
            return match r.owner {
                Some(_) => Decision::Answer(TaskAnswer::in_progress()),
                None => {
                    r.owner = Some(job.to_owned());
                    Decision::TakeOver(r.completes_at)
                }
            };
        }
        if matches!(found, Found::Restored(_)) {
            return Decision::Answer(TaskAnswer::already_restored());
        }
        // The instant is set by `started` once drawn; until then nobody else may start it.
        restoring.insert(
            object.clone(),
            Restoring {
                completes_at: Timestamp::MAX,
                owner: Some(job.to_owned()),
            },
        );
        Decision::Start(class)
    }

    /// Sets the instant of a restore `decide` started.
    pub fn started(&self, object: &ObjectId, completes_at: Timestamp) {
        if let Some(r) = self.lock().get_mut(object) {
            r.completes_at = completes_at;
        }
    }

    /// The restore ended (completed or dropped): the object is no longer restoring.
    pub fn finished(&self, object: &ObjectId) {
        self.lock().remove(object);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str) -> ObjectId {
        ObjectId::new("bucket-1", key, None).expect("valid id")
    }

    #[test]
    fn head_results_are_read_like_s3_headers() {
        assert_eq!(
            Found::from_head(None, None),
            Found::NotArchived("STANDARD".into())
        );
        assert_eq!(
            Found::from_head(Some("GLACIER_IR"), None),
            Found::NotArchived("GLACIER_IR".into())
        );
        assert_eq!(
            Found::from_head(Some("DEEP_ARCHIVE"), None),
            Found::Archived(StorageClass::DeepArchive)
        );
        assert_eq!(
            Found::from_head(
                Some("GLACIER"),
                Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"")
            ),
            Found::Restored(StorageClass::Glacier)
        );
        assert_eq!(
            Found::from_head(Some("GLACIER"), Some("ongoing-request=\"true\"")),
            Found::Restoring(StorageClass::Glacier)
        );
    }

    #[test]
    fn a_restore_under_way_answers_409_and_a_marked_one_is_taken_over_once() {
        let model = GlacierModel::default();
        let archived = Found::Archived(StorageClass::Glacier);
        assert_eq!(
            model.decide(&id("a"), &archived, "job-1"),
            Decision::Start(StorageClass::Glacier)
        );
        // The same object again, in this job or another: already in progress.
        assert_eq!(
            model.decide(&id("a"), &archived, "job-2"),
            Decision::Answer(TaskAnswer::in_progress())
        );
        let at: Timestamp = "2030-01-01T02:00:00Z".parse().expect("timestamp");
        model.mark_restoring(id("b"), at);
        assert_eq!(
            model.decide(&id("b"), &archived, "job-1"),
            Decision::TakeOver(at)
        );
        assert_eq!(
            model.decide(&id("b"), &archived, "job-2"),
            Decision::Answer(TaskAnswer::in_progress())
        );
        model.finished(&id("a"));
        assert_eq!(
            model.decide(&id("a"), &Found::Restored(StorageClass::Glacier), "job-3"),
            Decision::Answer(TaskAnswer::already_restored())
        );
    }

    #[test]
    fn missing_and_unarchived_objects_fail_like_s3() {
        let model = GlacierModel::default();
        let missing = model.decide(&id("m"), &Found::Missing, "j");
        assert_eq!(missing, Decision::Answer(TaskAnswer::no_such_key()));
        let versioned = ObjectId::new("bucket-1", "m", Some("v1".into())).expect("id");
        let Decision::Answer(answer) = model.decide(&versioned, &Found::Missing, "j") else {
            panic!("a missing version is answered at once");
        };
        assert_eq!(
            (answer.http_status, answer.error_code.as_str()),
            (404, "NoSuchVersion")
        );
        let Decision::Answer(answer) =
            model.decide(&id("s"), &Found::NotArchived("STANDARD".into()), "j")
        else {
            panic!("a STANDARD object is answered at once");
        };
        assert_eq!(
            (
                answer.succeeded,
                answer.http_status,
                answer.error_code.as_str()
            ),
            (false, 403, "InvalidObjectState")
        );
    }

    #[test]
    fn windows_follow_the_published_ranges() {
        let h = SignedDuration::from_hours;
        assert_eq!(
            restore_window(StorageClass::Glacier, Tier::Standard),
            (h(3), h(5))
        );
        assert_eq!(
            restore_window(StorageClass::Glacier, Tier::Bulk),
            (h(5), h(12))
        );
        assert_eq!(
            restore_window(StorageClass::DeepArchive, Tier::Standard),
            (h(9), h(12))
        );
        assert_eq!(
            restore_window(StorageClass::DeepArchive, Tier::Bulk),
            (h(24), h(48))
        );
    }
}
