//! `gbr estimate --check-objects`: a HEAD of every object of a manifest, so an estimate
//! can count only what a job would restore, with its size. A CSV manifest says neither
//! an object's class nor its size, and the per-GB fees are most of a large restore's
//! cost.
//!
//! Batch Operations sends a restore request for every manifest row, but only GLACIER and
//! DEEP_ARCHIVE objects are restored; the others are counted as skipped, by reason.
//! INTELLIGENT_TIERING objects are skipped too: a restore job cannot mix them with the
//! archive classes.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_s3::error::ProvideErrorMetadata;
use futures_util::stream::{self, StreamExt};
use gbr_core::estimate::{ClassObjects, EstimateInput};
use gbr_core::inventory::SkipReason;
use gbr_core::object_id::ObjectId;
use gbr_core::request::{StorageClass, Tier};
use indicatif::ProgressBar;
use thiserror::Error;

use crate::manifest_upload::describe_sdk_error;

/// What S3 answered to the HEAD of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    Object {
        /// As S3 names it; STANDARD when S3 leaves the header out, as it does for
        /// STANDARD objects.
        storage_class: String,
        /// `None` when S3 gave no Content-Length.
        size: Option<u64>,
        /// An Intelligent-Tiering object's archive tier (`x-amz-archive-status`).
        archive_status: Option<String>,
    },
    Missing,
    /// The object's current version, or the version named, is a delete marker.
    DeleteMarker,
    /// S3 answered with another error (e.g. 403): the object could not be checked.
    Unanswered {
        reason: String,
    },
}

/// HEAD requests on S3 objects; a fake stands in for S3 in tests.
pub trait ObjectHeads {
    /// Fails only when S3 could not be asked at all (no connection, a timeout after the
    /// SDK's retries): then no answer would come for the other objects either.
    fn head(&self, object: &ObjectId) -> impl Future<Output = Result<Head, HeadError>>;
}

#[derive(Debug, Error)]
#[error(
    "HEAD {object} failed: {message}; nothing was estimated (check --aws-endpoint-url and your AWS credentials)"
)]
pub struct HeadError {
    pub object: String,
    pub message: String,
}

/// [`ObjectHeads`] on S3.
pub struct S3Heads {
    client: aws_sdk_s3::Client,
}

impl S3Heads {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl ObjectHeads for S3Heads {
    async fn head(&self, object: &ObjectId) -> Result<Head, HeadError> {
        let result = self
            .client
            .head_object()
            .bucket(object.bucket())
            .key(object.key())
            .set_version_id(object.version_id().map(str::to_owned))
            .send()
            .await;
        let e = match result {
            Ok(out) => {
                return Ok(Head::Object {
                    storage_class: out
                        .storage_class()
                        .map_or("STANDARD", |c| c.as_str())
                        .to_owned(),
                    size: out.content_length().and_then(|l| u64::try_from(l).ok()),
                    archive_status: out.archive_status().map(|s| s.as_str().to_owned()),
                });
            }
            Err(e) => e,
        };
        let Some(response) = e.raw_response() else {
            return Err(HeadError {
                object: object.to_string(),
                message: describe_sdk_error(&e),
            });
        };
        let status = response.status().as_u16();
        let marker = response.headers().get("x-amz-delete-marker") == Some("true");
        Ok(match status {
            // A HEAD without a version id on a delete marker answers 404 with the header;
            // one naming a delete marker's version answers 405.
            404 if marker => Head::DeleteMarker,
            404 => Head::Missing,
            405 => Head::DeleteMarker,
            _ => Head::Unanswered {
                reason: e
                    .as_service_error()
                    .and_then(|s| s.code())
                    .map_or_else(|| format!("HTTP {status}"), str::to_owned),
            },
        })
    }
}

/// Objects found in one storage class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCount {
    pub objects: u64,
    /// `None` once an object of the class came without a size.
    pub bytes: Option<u64>,
}

impl ClassCount {
    pub fn add(&mut self, size: Option<u64>) {
        let before = if self.objects == 0 {
            Some(0)
        } else {
            self.bytes
        };
        self.objects += 1;
        self.bytes = before.zip(size).map(|(a, b)| a.saturating_add(b));
    }
}

/// What the HEADs of a manifest's objects found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadTally {
    /// Objects looked at.
    pub objects: u64,
    /// Every object found, by storage class as S3 names it.
    pub by_class: BTreeMap<String, ClassCount>,
    /// Objects a job would not restore, by reason as an estimate shows it.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Objects S3 would not answer for.
    pub unanswered: u64,
}

impl HeadTally {
    pub fn add(&mut self, head: Head) {
        self.objects += 1;
        let skipped = match head {
            Head::Object {
                storage_class,
                size,
                archive_status,
            } => {
                let reason = match storage_class.as_str() {
                    "GLACIER" | "DEEP_ARCHIVE" => None,
                    "INTELLIGENT_TIERING" => Some(SkipReason::IntelligentTiering {
                        access_tier: archive_status.unwrap_or_default(),
                    }),
                    _ => Some(SkipReason::NotArchived {
                        storage_class: storage_class.clone(),
                    }),
                };
                self.by_class.entry(storage_class).or_default().add(size);
                reason.map(|r| r.label().to_owned())
            }
            Head::Missing => Some("MISSING".to_owned()),
            Head::DeleteMarker => Some(SkipReason::DeleteMarker.label().to_owned()),
            Head::Unanswered { reason } => {
                self.unanswered += 1;
                Some(format!("NOT_CHECKED ({reason})"))
            }
        };
        if let Some(reason) = skipped {
            *self.skipped_by_reason.entry(reason).or_default() += 1;
        }
    }

    /// What to estimate: the archived objects with their sizes, the rest as skipped.
    pub fn estimate_input(&self, tier: Tier, expiration_days: u32, region: &str) -> EstimateInput {
        EstimateInput {
            classes: self
                .by_class
                .iter()
                .filter_map(|(name, count)| {
                    archive_class(name).map(|class| ClassObjects {
                        class,
                        objects: count.objects,
                        bytes: count.bytes,
                    })
                })
                .collect(),
            skipped_by_reason: self.skipped_by_reason.clone(),
            expiration_days,
            tier,
            region: region.to_owned(),
        }
    }
}

fn archive_class(name: &str) -> Option<StorageClass> {
    match name {
        "GLACIER" => Some(StorageClass::Glacier),
        "DEEP_ARCHIVE" => Some(StorageClass::DeepArchive),
        _ => None,
    }
}

/// HEADs every object, at most `concurrency` at once, advancing `progress` by one per
/// answer.
pub async fn head_all(
    heads: &impl ObjectHeads,
    objects: impl IntoIterator<Item = ObjectId>,
    concurrency: usize,
    progress: &ProgressBar,
) -> Result<HeadTally, HeadError> {
    let mut answers = stream::iter(objects)
        .map(|object| async move { heads.head(&object).await })
        .buffer_unordered(concurrency.max(1));
    let mut tally = HeadTally::default();
    while let Some(answer) = answers.next().await {
        tally.add(answer?);
        progress.inc(1);
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::HashMap;

    use super::*;

    fn id(key: &str) -> ObjectId {
        ObjectId::new("b-1", key, None).unwrap()
    }

    fn found(class: &str, size: u64) -> Head {
        Head::Object {
            storage_class: class.into(),
            size: Some(size),
            archive_status: None,
        }
    }

    /// Answers from a table; counts the HEADs in flight at once, each of which waits
    /// a few turns of the runtime so that others can start meanwhile.
    #[derive(Default)]
    struct FakeHeads {
        answers: HashMap<ObjectId, Result<Head, String>>,
        in_flight: Cell<usize>,
        most_in_flight: Cell<usize>,
    }

    impl ObjectHeads for FakeHeads {
        async fn head(&self, object: &ObjectId) -> Result<Head, HeadError> {
            self.in_flight.set(self.in_flight.get() + 1);
            self.most_in_flight
                .set(self.most_in_flight.get().max(self.in_flight.get()));
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            self.in_flight.set(self.in_flight.get() - 1);
            match self.answers.get(object) {
                Some(Ok(head)) => Ok(head.clone()),
                Some(Err(message)) => Err(HeadError {
                    object: object.to_string(),
                    message: message.clone(),
                }),
                None => Ok(Head::Missing),
            }
        }
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn archived_objects_are_restored_with_their_sizes_and_the_rest_skipped_by_reason() {
        let mut fake = FakeHeads::default();
        let answers = [
            ("g1", found("GLACIER", 100)),
            ("g2", found("GLACIER", 50)),
            ("d1", found("DEEP_ARCHIVE", 1 << 30)),
            ("s1", found("STANDARD", 7)),
            ("s2", found("STANDARD", 8)),
            ("ir", found("GLACIER_IR", 9)),
            (
                "it",
                Head::Object {
                    storage_class: "INTELLIGENT_TIERING".into(),
                    size: Some(10),
                    archive_status: Some("DEEP_ARCHIVE_ACCESS".into()),
                },
            ),
            ("dm", Head::DeleteMarker),
            (
                "denied",
                Head::Unanswered {
                    reason: "AccessDenied".into(),
                },
            ),
        ];
        for (key, head) in answers {
            fake.answers.insert(id(key), Ok(head));
        }
        let keys = [
            "g1", "g2", "d1", "s1", "s2", "ir", "it", "dm", "denied", "gone",
        ];
        let tally = run(head_all(&fake, keys.map(id), 4, &ProgressBar::hidden())).unwrap();

        assert_eq!(
            tally.by_class["GLACIER"],
            ClassCount {
                objects: 2,
                bytes: Some(150)
            }
        );
        assert_eq!(tally.by_class["STANDARD"].bytes, Some(15));
        let skipped: Vec<(&str, u64)> = tally
            .skipped_by_reason
            .iter()
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        assert_eq!(
            skipped,
            [
                ("DELETE_MARKER", 1),
                ("GLACIER_IR", 1),
                ("INTELLIGENT_TIERING", 1),
                ("MISSING", 1),
                ("NOT_CHECKED (AccessDenied)", 1),
                ("STANDARD", 2),
            ]
        );
        assert_eq!(tally.unanswered, 1);
        assert_eq!(tally.objects, 10);

        let input = tally.estimate_input(Tier::Bulk, 3, "eu-west-1");
        assert_eq!(
            input.classes,
            [
                ClassObjects {
                    class: StorageClass::DeepArchive,
                    objects: 1,
                    bytes: Some(1 << 30)
                },
                ClassObjects {
                    class: StorageClass::Glacier,
                    objects: 2,
                    bytes: Some(150)
                },
            ]
        );
        assert_eq!(input.skipped_by_reason.values().sum::<u64>(), 7);
        assert_eq!(
            (input.tier, input.expiration_days, input.region.as_str()),
            (Tier::Bulk, 3, "eu-west-1")
        );
        let estimate = gbr_core::estimate::estimate(&input);
        assert_eq!(estimate.bytes, Some((1 << 30) + 150));
        assert!(estimate.tiers.bulk.excludes.is_empty());
    }

    #[test]
    fn an_object_without_a_size_makes_its_class_size_unknown() {
        let mut count = ClassCount::default();
        count.add(Some(5));
        count.add(None);
        count.add(Some(5));
        assert_eq!(
            count,
            ClassCount {
                objects: 3,
                bytes: None
            }
        );
    }

    #[test]
    fn at_most_the_concurrency_asked_is_in_flight() {
        let fake = FakeHeads::default();
        let objects = (0..20).map(|i| id(&format!("k{i}")));
        let progress = ProgressBar::hidden();
        progress.set_length(20);
        let tally = run(head_all(&fake, objects, 4, &progress)).unwrap();
        assert_eq!(tally.skipped_by_reason["MISSING"], 20);
        assert_eq!(fake.most_in_flight.get(), 4);
        assert_eq!(progress.position(), 20);
    }

    #[test]
    fn a_head_that_cannot_be_sent_stops_the_check() {
        let mut fake = FakeHeads::default();
        fake.answers
            .insert(id("k1"), Err("dispatch failure: connection refused".into()));
        let err = run(head_all(
            &fake,
            [id("k0"), id("k1")],
            1,
            &ProgressBar::hidden(),
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HEAD s3://b-1/k1 failed: dispatch failure: connection refused; nothing was \
             estimated (check --aws-endpoint-url and your AWS credentials)"
        );
    }
}
