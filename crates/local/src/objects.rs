//! Where the data buckets' objects live: on moto, or in memory.
//!
//! On moto every object is a real S3 object behind the real wire protocol: the
//! simulator asks HeadObject what each task's object is and sends RestoreObject when a
//! restore completes, and reconciliation's HeadObject goes through the production S3
//! adapter. That costs moto a few milliseconds of Python per call, which is what limits
//! a local run at hundreds of thousands of objects (and moto keeps every object in
//! memory). In memory, the same answers come from a table in this process: what S3
//! would say of each object (its class, whether a restored copy or a restore is there,
//! its size), so a million-object job runs on one machine. Manifests and completion
//! reports stay on moto either way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use gbr_aws::S3Objects;
use gbr_core::filter::ListedObject;
use gbr_core::object_id::ObjectId;
use gbr_core::ports::{
    ArchiveState, ObjectInspector, ObjectMeta, ObjectSource, Page, PortResult, UploadedPart,
};
use gbr_core::request::Tier;
use jiff::Timestamp;

use crate::simulator::RequestError;
use crate::simulator::glacier::Found;
use crate::simulator::requests::{self, Head};

/// The S3 storage class names a restore applies to.
const ARCHIVE_CLASSES: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// Which store holds the data buckets' objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ObjectsMode {
    /// Real S3 objects on moto (the default: every request on the wire).
    #[default]
    Moto,
    /// A table in this process, for runs too large for moto.
    Memory,
}

/// The data buckets' objects.
#[derive(Clone)]
pub enum DataObjects {
    Moto(aws_sdk_s3::Client),
    Memory(Arc<MemoryObjects>),
}

impl DataObjects {
    /// Creates an object in `class`, with a restored copy when `restored`; answers its
    /// version id, if S3 gave one. (A restore under way is the simulator's to know: see
    /// `BatchSimulator::mark_restoring`.)
    pub async fn create(
        &self,
        object: &ObjectId,
        class: &str,
        restored: bool,
    ) -> Result<Option<String>, RequestError> {
        match self {
            DataObjects::Moto(s3) => {
                let body = format!("contents of {}", object.key()).into_bytes();
                let version = requests::put_object(s3, object, class, body).await?;
                if restored {
                    let id = ObjectId::new(object.bucket(), object.key(), version.clone())
                        .map_err(|e| RequestError::invalid("PutObject", object, e))?;
                    requests::restore(s3, &id, 1, Tier::Standard).await?;
                }
                Ok(version)
            }
            DataObjects::Memory(table) => {
                let size = format!("contents of {}", object.key()).len() as u64;
                table.lock().insert(
                    object.clone(),
                    Stored {
                        class: class.to_owned(),
                        restored,
                        size,
                        last_modified: Timestamp::now(),
                    },
                );
                Ok(object.version_id().map(str::to_owned))
            }
        }
    }

    /// What HeadObject says of the object.
    pub(crate) async fn head(&self, object: &ObjectId) -> Head {
        match self {
            DataObjects::Moto(s3) => requests::head(s3, object).await,
            DataObjects::Memory(table) => table.head(object),
        }
    }

    /// A restore completes: from now on HeadObject shows the restored copy.
    pub(crate) async fn restore(
        &self,
        object: &ObjectId,
        days: u32,
        tier: Tier,
    ) -> Result<(), RequestError> {
        match self {
            DataObjects::Moto(s3) => requests::restore(s3, object, days, tier).await,
            DataObjects::Memory(table) => match table.lock().get_mut(object) {
                Some(stored) if ARCHIVE_CLASSES.contains(&stored.class.as_str()) => {
                    stored.restored = true;
                    Ok(())
                }
                Some(stored) => Err(RequestError::answered(
                    "RestoreObject",
                    object,
                    403,
                    "InvalidObjectState",
                    &format!(
                        "Restore is not allowed for the object's current storage class {}",
                        stored.class
                    ),
                )),
                None => Err(RequestError::answered(
                    "RestoreObject",
                    object,
                    404,
                    "NoSuchKey",
                    "The specified key does not exist.",
                )),
            },
        }
    }

    /// Every object under `prefix`, as ListObjectsV2 shows it (S3's manifest generator
    /// lists them so).
    pub(crate) async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ListedObject>, RequestError> {
        match self {
            DataObjects::Moto(s3) => requests::list(s3, bucket, prefix).await,
            DataObjects::Memory(table) => Ok(table.list(bucket, prefix, None, usize::MAX)),
        }
    }

    /// The S3 port of the handlers: the production adapter on moto; in memory, the
    /// same adapter for manifests and reports, with the data buckets listed from the
    /// table.
    pub fn source(&self, s3: aws_sdk_s3::Client) -> Arc<dyn ObjectSource> {
        let adapter = S3Objects::from_client(s3);
        match self {
            DataObjects::Moto(_) => Arc::new(adapter),
            DataObjects::Memory(table) => Arc::new(ListedFromTable {
                adapter,
                table: Arc::clone(table),
            }),
        }
    }

    /// The port reconciliation and the report's confirmations ask: the production S3
    /// adapter on moto, or the table.
    /// What reconciliation's HeadObject calls go to; on moto, through `s3`.
    pub fn inspector(&self, s3: aws_sdk_s3::Client) -> Arc<dyn ObjectInspector> {
        match self {
            DataObjects::Moto(_) => Arc::new(gbr_aws::S3Objects::from_client(s3)),
            DataObjects::Memory(table) => Arc::clone(table) as Arc<dyn ObjectInspector>,
        }
    }
}

/// What S3 would hold of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    class: String,
    restored: bool,
    size: u64,
    last_modified: Timestamp,
}

/// Objects held in memory, keyed by their exact id (version included).
#[derive(Debug, Default)]
pub struct MemoryObjects {
    /// In key order, so a bucket's keys under a prefix are one range.
    objects: Mutex<BTreeMap<ObjectId, Stored>>,
}

impl MemoryObjects {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<ObjectId, Stored>> {
        // Every update is one map operation, so a poisoned map is still consistent.
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to `limit` objects of `bucket` under `prefix` after key `after`, in key order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<ListedObject> {
        let objects = self.lock();
        let from = match after {
            Some(a) if a >= prefix => a,
            _ => prefix,
        };
        // Keys are never empty, so a bound with an empty key is the bucket's start.
        let start = ObjectId::new(bucket, from, None)
            .ok()
            .or_else(|| ObjectId::new(bucket, "\0", None).ok());
        let range: Box<dyn Iterator<Item = (&ObjectId, &Stored)>> = match start {
            Some(start) => Box::new(objects.range(start..)),
            None => Box::new(objects.iter()),
        };
        range
            .skip_while(|(id, _)| id.bucket() < bucket)
            .take_while(|(id, _)| id.bucket() == bucket && id.key().starts_with(prefix))
            .filter(|(id, _)| after.is_none_or(|a| id.key() > a))
            .take(limit)
            .map(|(id, stored)| ListedObject {
                key: id.key().to_owned(),
                size: stored.size,
                last_modified: stored.last_modified,
                storage_class: stored.class.clone(),
            })
            .collect()
    }

    /// As HeadObject answers: the restore header is `ongoing-request="false"` once a
    /// restored copy is there (a restore under way is known to the simulator only).
    fn head(&self, object: &ObjectId) -> Head {
        match self.lock().get(object) {
            None => Head {
                found: Found::Missing,
                size: 0,
            },
            Some(stored) => {
                let restore = stored.restored.then_some(
                    "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
                );
                Head {
                    found: Found::from_head(Some(&stored.class), restore),
                    size: stored.size,
                }
            }
        }
    }
}

#[async_trait]
impl ObjectInspector for MemoryObjects {
    async fn inspect(&self, object: &ObjectId) -> PortResult<ArchiveState> {
        Ok(match self.head(object).found {
            Found::Missing => ArchiveState::Missing,
            Found::NotArchived(_) => ArchiveState::NotArchived,
            Found::Archived(_) => ArchiveState::Archived,
            Found::Restoring(_) => ArchiveState::Restoring,
            Found::Restored(_) => ArchiveState::Restored,
            // A table answers everything.
            Found::Unreadable { .. } => ArchiveState::Missing,
        })
    }
}

/// In memory mode: manifests, reports and uploads on moto, through the production
/// adapter; ListObjectsV2 of a data bucket from the table.
struct ListedFromTable {
    adapter: S3Objects,
    table: Arc<MemoryObjects>,
}

/// ListObjectsV2's page size.
const LIST_PAGE: usize = 1000;

#[async_trait]
impl ObjectSource for ListedFromTable {
    async fn head(&self, bucket: &str, key: &str) -> PortResult<ObjectMeta> {
        self.adapter.head(bucket, key).await
    }
    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> PortResult<Vec<u8>> {
        self.adapter.read_range(bucket, key, etag, start, len).await
    }
    async fn start_upload(&self, bucket: &str, key: &str) -> PortResult<String> {
        self.adapter.start_upload(bucket, key).await
    }
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Vec<u8>,
    ) -> PortResult<String> {
        self.adapter
            .upload_part(bucket, key, upload_id, number, body)
            .await
    }
    async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> PortResult<String> {
        self.adapter
            .complete_upload(bucket, key, upload_id, parts)
            .await
    }
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> PortResult<Page<ListedObject>> {
        let items = self.table.list(bucket, prefix, after, LIST_PAGE + 1);
        Ok(Page::of(items, LIST_PAGE, |o| o.key.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str) -> ObjectId {
        ObjectId::new("bucket-1", key, None).expect("an id")
    }

    #[tokio::test]
    async fn the_table_answers_as_s3_would() {
        let table = Arc::new(MemoryObjects::default());
        let objects = DataObjects::Memory(Arc::clone(&table));
        objects.create(&id("a"), "GLACIER", false).await.unwrap();
        objects.create(&id("b"), "STANDARD", false).await.unwrap();
        objects
            .create(&id("c"), "DEEP_ARCHIVE", true)
            .await
            .unwrap();
        let state = |key: &'static str| {
            let table = Arc::clone(&table);
            async move { table.inspect(&id(key)).await.unwrap() }
        };
        assert_eq!(state("a").await, ArchiveState::Archived);
        assert_eq!(state("b").await, ArchiveState::NotArchived);
        assert_eq!(state("c").await, ArchiveState::Restored);
        assert_eq!(state("gone").await, ArchiveState::Missing);
        objects.restore(&id("a"), 1, Tier::Bulk).await.unwrap();
        assert_eq!(state("a").await, ArchiveState::Restored);
        let refused = objects.restore(&id("b"), 1, Tier::Bulk).await.unwrap_err();
        assert_eq!(
            (refused.http_status, refused.code.as_str()),
            (403, "InvalidObjectState")
        );
        let missing = objects
            .restore(&id("gone"), 1, Tier::Bulk)
            .await
            .unwrap_err();
        assert_eq!(missing.http_status, 404);
        assert_eq!(
            objects.head(&id("c")).await.size,
            "contents of c".len() as u64
        );
    }

    #[tokio::test]
    async fn the_table_lists_a_prefix_in_pages_as_list_objects_v2_does() {
        let table = Arc::new(MemoryObjects::default());
        let objects = DataObjects::Memory(Arc::clone(&table));
        let other = ObjectId::new("bucket-0", "p/x", None).unwrap();
        objects.create(&other, "GLACIER", false).await.unwrap();
        for key in ["p/a", "p/b", "p/c", "p-2/d", "q/e"] {
            objects.create(&id(key), "GLACIER", false).await.unwrap();
        }
        objects.create(&id("p/f"), "STANDARD", false).await.unwrap();
        let keys = |listed: Vec<ListedObject>| -> Vec<String> {
            listed.into_iter().map(|o| o.key).collect()
        };
        let all = objects.list("bucket-1", "p/").await.unwrap();
        assert_eq!(all[3].storage_class, "STANDARD");
        assert_eq!(keys(all), ["p/a", "p/b", "p/c", "p/f"]);
        assert_eq!(keys(table.list("bucket-1", "p", None, 10)).len(), 5);
        assert_eq!(keys(table.list("bucket-1", "", None, 10)).len(), 6);
        let source = objects.source(aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        ));
        let first = source.list_page("bucket-1", "p/", None).await.unwrap();
        assert_eq!(first.next, None);
        assert_eq!(first.items.len(), 4);
        let after = source
            .list_page("bucket-1", "p/", Some("p/b"))
            .await
            .unwrap();
        assert_eq!(keys(after.items), ["p/c", "p/f"]);
    }
}
