//! What a bulk restore will cost and how long it will take, from counts alone, so a
//! person can see both before creating the job. Counting the manifest's objects and
//! reading their sizes is the caller's; nothing here does I/O.
//!
//! Both tiers are always priced, so the answer shows what the other tier would cost.
//! USD figures are computed at full precision and rounded to 4 decimal places in the
//! answer: per-object fees are fractions of a cent, and rounding each item to cents
//! would make small jobs look free. A total is rounded from the unrounded items, so it
//! may differ from the sum of the rounded items in the last place.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::restore_window;
use crate::prices::{HOURS_PER_BILLING_MONTH, PriceTable, prices_for};
use crate::request::{StorageClass, Tier};

/// Bytes in the GB that AWS prices retrieval and storage by (2^30, a binary GB).
const BYTES_PER_GB: f64 = 1_073_741_824.0;

/// The objects of one storage class a job would restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassObjects {
    pub class: StorageClass,
    pub objects: u64,
    /// Their total size, when every one of them was measured.
    pub bytes: Option<u64>,
}

/// What an estimate is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateInput {
    /// The objects to restore, by class; a class may appear more than once.
    pub classes: Vec<ClassObjects>,
    /// Manifest objects that will not be restored (e.g. "not archived (STANDARD)"),
    /// counted by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    pub expiration_days: u32,
    /// The tier the job would use.
    pub tier: Tier,
    pub region: String,
}

/// The estimate, as `POST /estimate` answers it. Field names are part of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Objects to restore.
    pub objects: u64,
    pub skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Total size of the objects to restore, or `None` when some were not measured.
    pub bytes: Option<u64>,
    pub expiration_days: u32,
    /// The tier requested, whose window is `completion_window_hours`.
    pub tier: Tier,
    pub tiers: TierEstimates,
    /// How many hours after submission the last object should be back, at the
    /// requested tier.
    pub completion_window_hours: [u64; 2],
    pub prices: PricesUsed,
}

/// Both tiers, under the names the API uses for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierEstimates {
    #[serde(rename = "STANDARD")]
    pub standard: TierEstimate,
    #[serde(rename = "BULK")]
    pub bulk: TierEstimate,
}

/// The cost of restoring at one tier, item by item, in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierEstimate {
    pub restore_requests_usd: f64,
    /// `None` when the size is unknown.
    pub retrieval_usd: Option<f64>,
    /// Per job, and per object to restore: the manifest Batch Operations is given lists
    /// only them.
    pub batch_operations_usd: f64,
    /// The restored copies kept for `expiration_days`, at S3 Standard rates; `None`
    /// when the size is unknown.
    pub restored_storage_usd: Option<f64>,
    /// This system's own resources, at the measured rate in
    /// [`crate::prices::Overhead`].
    pub overhead_usd: f64,
    /// The sum of the items that are known.
    pub total_usd: f64,
    /// The items `total_usd` leaves out because they are unknown.
    pub excludes: Vec<String>,
    pub completion_window_hours: [u64; 2],
}

/// Whose prices an estimate used, so a reader can check them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricesUsed {
    /// The region whose prices were used.
    pub region: String,
    pub requested_region: String,
    /// True when the requested region has no prices of its own.
    pub fallback: bool,
    pub as_of: String,
    pub sources: Vec<String>,
}

/// The objects of one class, all entries for it added up.
struct ClassTotal {
    class: StorageClass,
    objects: u64,
    bytes: Option<u64>,
}

/// Estimates the cost at both tiers and the completion window of a job.
pub fn estimate(input: &EstimateInput) -> Estimate {
    let classes = class_totals(&input.classes);
    let objects = classes
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.objects));
    let skipped = input
        .skipped_by_reason
        .values()
        .fold(0u64, |sum, n| sum.saturating_add(*n));
    let bytes = classes
        .iter()
        .try_fold(0u64, |sum, c| c.bytes.map(|b| sum.saturating_add(b)));
    let window_classes = window_classes(&classes, &input.classes);
    let prices = prices_for(&input.region);
    let job = Job {
        classes: &classes,
        restored_objects: objects as f64,
        rows: objects as f64 + skipped as f64,
        gb: bytes.map(|b| b as f64 / BYTES_PER_GB),
        expiration_days: input.expiration_days,
        window_classes: &window_classes,
        table: prices.table,
    };
    let standard = job.at(Tier::Standard);
    let bulk = job.at(Tier::Bulk);
    let completion_window_hours = match input.tier {
        Tier::Standard => standard.completion_window_hours,
        Tier::Bulk => bulk.completion_window_hours,
    };
    Estimate {
        objects,
        skipped,
        skipped_by_reason: input.skipped_by_reason.clone(),
        bytes,
        expiration_days: input.expiration_days,
        tier: input.tier,
        tiers: TierEstimates { standard, bulk },
        completion_window_hours,
        prices: PricesUsed {
            region: prices.table.region.to_owned(),
            requested_region: prices.requested_region,
            fallback: prices.fallback,
            as_of: prices.table.as_of.to_owned(),
            sources: prices
                .table
                .sources
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        },
    }
}

/// One total per class, Flexible Retrieval first. A class with no objects has no
/// bytes to measure, so its size is known (zero) even if the caller gave none.
fn class_totals(entries: &[ClassObjects]) -> Vec<ClassTotal> {
    [StorageClass::Glacier, StorageClass::DeepArchive]
        .into_iter()
        .map(|class| {
            let of_class = entries.iter().filter(|e| e.class == class);
            let objects = of_class
                .clone()
                .fold(0u64, |sum, e| sum.saturating_add(e.objects));
            let bytes = of_class
                .filter(|e| e.objects > 0)
                .try_fold(0u64, |sum, e| e.bytes.map(|b| sum.saturating_add(b)));
            ClassTotal {
                class,
                objects,
                bytes,
            }
        })
        .collect()
}

/// The classes the completion window is taken over: those with objects to restore; with
/// none, those the caller named; with none named, every class, so the window is the
/// widest it could be rather than missing.
fn window_classes(totals: &[ClassTotal], entries: &[ClassObjects]) -> Vec<StorageClass> {
    let with_objects: Vec<StorageClass> = totals
        .iter()
        .filter(|c| c.objects > 0)
        .map(|c| c.class)
        .collect();
    if !with_objects.is_empty() {
        return with_objects;
    }
    let named: Vec<StorageClass> = totals
        .iter()
        .filter(|c| entries.iter().any(|e| e.class == c.class))
        .map(|c| c.class)
        .collect();
    if named.is_empty() {
        totals.iter().map(|c| c.class).collect()
    } else {
        named
    }
}

/// A job's counts and the prices to apply to them.
struct Job<'a> {
    classes: &'a [ClassTotal],
    /// Objects to restore: the batch job's manifest lists only them (skipped rows of an
    /// inventory report are left out of the manifest written for it).
    restored_objects: f64,
    /// Objects to restore plus skipped ones: any, and an execution runs.
    rows: f64,
    gb: Option<f64>,
    expiration_days: u32,
    window_classes: &'a [StorageClass],
    table: &'a PriceTable,
}

impl Job<'_> {
    fn at(&self, tier: Tier) -> TierEstimate {
        let p = self.table;
        let restore_requests: f64 = self
            .classes
            .iter()
            .map(|c| c.objects as f64 / 1e3 * p.restores.get(c.class, tier).per_thousand_requests)
            .sum();
        let retrieval: Option<f64> = self
            .classes
            .iter()
            .map(|c| {
                c.bytes.map(|b| {
                    b as f64 / BYTES_PER_GB * p.restores.get(c.class, tier).per_gb_retrieved
                })
            })
            .sum();
        // An empty manifest is refused before a batch job or an execution exists; one
        // with only skipped rows runs an execution that fails before any batch job.
        let one_if = |any: bool| if any { 1.0 } else { 0.0 };
        let jobs = one_if(self.rows > 0.0);
        let batch_jobs = one_if(self.restored_objects > 0.0);
        let batch_operations = batch_jobs * p.batch_per_job
            + self.restored_objects / 1e6 * p.batch_per_million_objects;
        let months = f64::from(self.expiration_days) * 24.0 / HOURS_PER_BILLING_MONTH;
        let restored_storage = self.gb.map(|gb| gb * p.restored_copy_per_gb_month * months);
        let overhead = jobs * p.overhead.per_job
            + self.restored_objects / 1e6 * p.overhead.per_million_objects;

        let mut excludes = Vec::new();
        if retrieval.is_none() {
            excludes.push("retrieval".to_owned());
        }
        if restored_storage.is_none() {
            excludes.push("restored_storage".to_owned());
        }
        let total = restore_requests
            + retrieval.unwrap_or(0.0)
            + batch_operations
            + restored_storage.unwrap_or(0.0)
            + overhead;
        TierEstimate {
            restore_requests_usd: usd(restore_requests),
            retrieval_usd: retrieval.map(usd),
            batch_operations_usd: usd(batch_operations),
            restored_storage_usd: restored_storage.map(usd),
            overhead_usd: usd(overhead),
            total_usd: usd(total),
            excludes,
            completion_window_hours: window_hours(self.window_classes, tier),
        }
    }
}

/// The earliest and latest any of `classes` is back at `tier`, in whole hours.
fn window_hours(classes: &[StorageClass], tier: Tier) -> [u64; 2] {
    let windows = classes.iter().map(|c| restore_window(*c, tier));
    let low = windows.clone().map(|w| w.0).min().unwrap_or(Duration::ZERO);
    let high = windows.map(|w| w.1).max().unwrap_or(Duration::ZERO);
    [low.as_secs() / 3600, high.as_secs().div_ceil(3600)]
}

/// Rounds to 4 decimal places, a hundredth of a cent.
fn usd(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GLACIER: StorageClass = StorageClass::Glacier;
    const DEEP: StorageClass = StorageClass::DeepArchive;
    const TIB: u64 = 1 << 40;
    const GIB: u64 = 1 << 30;

    fn input(classes: &[(StorageClass, u64, Option<u64>)], days: u32, tier: Tier) -> EstimateInput {
        EstimateInput {
            classes: classes
                .iter()
                .map(|&(class, objects, bytes)| ClassObjects {
                    class,
                    objects,
                    bytes,
                })
                .collect(),
            skipped_by_reason: BTreeMap::new(),
            expiration_days: days,
            tier,
            region: "us-east-1".into(),
        }
    }

    /// Shared by the four million-object cases below (1,000,000 objects of 1 MiB, so
    /// 2^40 bytes = 1024 GB, kept 7 days):
    /// batch      0.25 + 1,000,000 / 1e6 * 1.00 = 1.25
    /// storage    1024 * 0.023 * (7 * 24 / 730) = 23.552 * 0.2301369863 = 5.42018630 -> 5.4202
    /// overhead   3,479 * 0.000025 + 10 * 0.0000005 = 0.08698 per job,
    ///            + 1,000,000 / 1e6 * 4.45 = 4.45 -> 4.53698 -> 4.537
    fn million_mib(class: StorageClass, tier: Tier) -> Estimate {
        estimate(&input(&[(class, 1_000_000, Some(TIB))], 7, tier))
    }

    fn check_common_million(t: &TierEstimate) {
        assert_eq!(t.batch_operations_usd, 1.25);
        assert_eq!(t.restored_storage_usd, Some(5.4202));
        assert_eq!(t.overhead_usd, 4.537);
        assert!(t.excludes.is_empty());
    }

    #[test]
    fn glacier_standard() {
        let e = million_mib(GLACIER, Tier::Standard);
        let t = &e.tiers.standard;
        // 1,000,000 / 1,000 * 0.05
        assert_eq!(t.restore_requests_usd, 50.0);
        // 1024 GB * 0.01
        assert_eq!(t.retrieval_usd, Some(10.24));
        check_common_million(t);
        // 50 + 10.24 + 1.25 + 5.42018630 + 4.53698 = 71.44716630
        assert_eq!(t.total_usd, 71.4472);
        // Published: 3-5 hours.
        assert_eq!(t.completion_window_hours, [3, 5]);
        assert_eq!(e.completion_window_hours, [3, 5]);
        assert_eq!(e.objects, 1_000_000);
        assert_eq!(e.bytes, Some(1_099_511_627_776));
    }

    #[test]
    fn glacier_bulk() {
        let e = million_mib(GLACIER, Tier::Bulk);
        let t = &e.tiers.bulk;
        // Flexible Retrieval Bulk: no request or retrieval fee.
        assert_eq!(t.restore_requests_usd, 0.0);
        assert_eq!(t.retrieval_usd, Some(0.0));
        check_common_million(t);
        // 0 + 0 + 1.25 + 5.42018630 + 4.53698 = 11.20716630
        assert_eq!(t.total_usd, 11.2072);
        // Published: 5-12 hours; the requested tier's window is the top-level one.
        assert_eq!(t.completion_window_hours, [5, 12]);
        assert_eq!(e.completion_window_hours, [5, 12]);
        // The tier not requested is priced too.
        assert_eq!(e.tiers.standard.total_usd, 71.4472);
    }

    #[test]
    fn deep_archive_standard() {
        let e = million_mib(DEEP, Tier::Standard);
        let t = &e.tiers.standard;
        // 1,000,000 / 1,000 * 0.10
        assert_eq!(t.restore_requests_usd, 100.0);
        // 1024 GB * 0.02
        assert_eq!(t.retrieval_usd, Some(20.48));
        check_common_million(t);
        // 100 + 20.48 + 1.25 + 5.42018630 + 4.53698 = 131.68716630
        assert_eq!(t.total_usd, 131.6872);
        // Within 12 hours (9 is policy's lower bound).
        assert_eq!(e.completion_window_hours, [9, 12]);
    }

    #[test]
    fn deep_archive_bulk() {
        let e = million_mib(DEEP, Tier::Bulk);
        let t = &e.tiers.bulk;
        // 1,000,000 / 1,000 * 0.025
        assert_eq!(t.restore_requests_usd, 25.0);
        // 1024 GB * 0.0025
        assert_eq!(t.retrieval_usd, Some(2.56));
        check_common_million(t);
        // 25 + 2.56 + 1.25 + 5.42018630 + 4.53698 = 38.76716630
        assert_eq!(t.total_usd, 38.7672);
        // Within 48 hours (24 is policy's lower bound).
        assert_eq!(e.completion_window_hours, [24, 48]);
    }

    #[test]
    fn mixed_classes_with_skipped_objects() {
        let mut i = input(
            &[(GLACIER, 1_000, Some(GIB)), (DEEP, 3_000, Some(2 * GIB))],
            30,
            Tier::Bulk,
        );
        i.skipped_by_reason
            .insert("not archived (STANDARD)".into(), 5);
        i.skipped_by_reason.insert("not found".into(), 2);
        let e = estimate(&i);
        assert_eq!(e.objects, 4_000);
        assert_eq!(e.skipped, 7);
        assert_eq!(e.bytes, Some(3 * 1_073_741_824));

        // Both tiers share:
        // batch     0.25 + 4,000 / 1e6 * 1.00 = 0.254 (skipped rows are not in its manifest)
        // storage   3 GB * 0.023 * (30 * 24 / 730) = 0.069 * 0.98630137 = 0.06805479 -> 0.0681
        // overhead  0.08698 + 4,000 / 1e6 * 4.45 = 0.08698 + 0.0178 = 0.10478 -> 0.1048
        for t in [&e.tiers.standard, &e.tiers.bulk] {
            assert_eq!(t.batch_operations_usd, 0.254);
            assert_eq!(t.restored_storage_usd, Some(0.0681));
            assert_eq!(t.overhead_usd, 0.1048);
        }

        let s = &e.tiers.standard;
        // 1,000 / 1,000 * 0.05 + 3,000 / 1,000 * 0.10 = 0.05 + 0.30
        assert_eq!(s.restore_requests_usd, 0.35);
        // 1 GB * 0.01 + 2 GB * 0.02 = 0.01 + 0.04
        assert_eq!(s.retrieval_usd, Some(0.05));
        // 0.35 + 0.05 + 0.254 + 0.06805479 + 0.10478 = 0.82683479
        assert_eq!(s.total_usd, 0.8268);
        // Flexible Retrieval from 3 h, Deep Archive up to 12 h.
        assert_eq!(s.completion_window_hours, [3, 12]);

        let b = &e.tiers.bulk;
        // 1,000 / 1,000 * 0 + 3,000 / 1,000 * 0.025
        assert_eq!(b.restore_requests_usd, 0.075);
        // 1 GB * 0 + 2 GB * 0.0025
        assert_eq!(b.retrieval_usd, Some(0.005));
        // 0.075 + 0.005 + 0.254007 + 0.06805479 + 0.10478 = 0.50684179
        assert_eq!(b.total_usd, 0.5068);
        // Flexible Retrieval from 5 h, Deep Archive up to 48 h.
        assert_eq!(b.completion_window_hours, [5, 48]);
        assert_eq!(e.completion_window_hours, [5, 48]);
    }

    #[test]
    fn a_class_given_in_pieces_is_added_up() {
        let e = estimate(&input(
            &[(GLACIER, 600_000, Some(GIB)), (GLACIER, 400_000, Some(GIB))],
            1,
            Tier::Standard,
        ));
        assert_eq!(e.objects, 1_000_000);
        assert_eq!(e.bytes, Some(2 * GIB));
        // 1,000,000 / 1,000 * 0.05: one job's worth, not two.
        assert_eq!(e.tiers.standard.restore_requests_usd, 50.0);
        // 0.25 + 1.00, one per-job fee.
        assert_eq!(e.tiers.standard.batch_operations_usd, 1.25);
    }

    #[test]
    fn unknown_bytes_leave_retrieval_and_storage_out_and_say_so() {
        let e = estimate(&input(&[(GLACIER, 2_000, None)], 7, Tier::Standard));
        assert_eq!(e.bytes, None);
        let s = &e.tiers.standard;
        // 2,000 / 1,000 * 0.05
        assert_eq!(s.restore_requests_usd, 0.1);
        assert_eq!(s.retrieval_usd, None);
        // 0.25 + 2,000 / 1e6 * 1.00
        assert_eq!(s.batch_operations_usd, 0.252);
        assert_eq!(s.restored_storage_usd, None);
        // 0.08698 + 2,000 / 1e6 * 4.45 = 0.08698 + 0.0089 = 0.09588
        assert_eq!(s.overhead_usd, 0.0959);
        // 0.1 + 0.252 + 0.09588 = 0.44788
        assert_eq!(s.total_usd, 0.4479);
        assert_eq!(s.excludes, ["retrieval", "restored_storage"]);
        assert_eq!(e.tiers.bulk.excludes, ["retrieval", "restored_storage"]);
    }

    #[test]
    fn one_class_unmeasured_makes_the_whole_size_unknown() {
        let e = estimate(&input(
            &[(GLACIER, 10, Some(GIB)), (DEEP, 10, None)],
            7,
            Tier::Bulk,
        ));
        assert_eq!(e.bytes, None);
        assert_eq!(e.tiers.bulk.retrieval_usd, None);
        assert_eq!(e.tiers.bulk.restored_storage_usd, None);
        // A class with no objects has nothing to measure: the size stays known.
        let e = estimate(&input(
            &[(GLACIER, 10, Some(GIB)), (DEEP, 0, None)],
            7,
            Tier::Bulk,
        ));
        assert_eq!(e.bytes, Some(GIB));
        assert!(e.tiers.bulk.excludes.is_empty());
    }

    #[test]
    fn zero_objects_cost_nothing_and_still_have_a_window() {
        let e = estimate(&input(&[(DEEP, 0, None)], 7, Tier::Bulk));
        assert_eq!((e.objects, e.skipped, e.bytes), (0, 0, Some(0)));
        for t in [&e.tiers.standard, &e.tiers.bulk] {
            assert_eq!(t.restore_requests_usd, 0.0);
            assert_eq!(t.retrieval_usd, Some(0.0));
            assert_eq!(t.batch_operations_usd, 0.0);
            assert_eq!(t.restored_storage_usd, Some(0.0));
            assert_eq!(t.overhead_usd, 0.0);
            assert_eq!(t.total_usd, 0.0);
        }
        // The window of the class named: Deep Archive Bulk, 24-48 hours.
        assert_eq!(e.completion_window_hours, [24, 48]);
        // No class named: the widest window over both, Standard 3 (Flexible Retrieval)
        // to 12 (Deep Archive).
        let e = estimate(&input(&[], 7, Tier::Standard));
        assert_eq!(e.completion_window_hours, [3, 12]);
        assert_eq!(e.tiers.standard.total_usd, 0.0);
    }

    #[test]
    fn only_skipped_objects_pay_for_no_batch_job_but_the_execution_runs() {
        let mut i = input(&[(GLACIER, 0, None)], 7, Tier::Standard);
        i.skipped_by_reason
            .insert("not archived (STANDARD)".into(), 10);
        let s = estimate(&i).tiers.standard;
        assert_eq!(s.restore_requests_usd, 0.0);
        // Registration fails (nothing archived) before a batch job is submitted.
        assert_eq!(s.batch_operations_usd, 0.0);
        // The execution still runs: 0.08698 per job, no objects.
        assert_eq!(s.overhead_usd, 0.087);
    }

    #[test]
    fn an_unknown_region_uses_us_east_1_and_says_so() {
        let mut i = input(&[(GLACIER, 1_000_000, Some(TIB))], 7, Tier::Standard);
        i.region = "ap-southeast-2".into();
        let e = estimate(&i);
        assert_eq!(e.prices.region, "us-east-1");
        assert_eq!(e.prices.requested_region, "ap-southeast-2");
        assert!(e.prices.fallback);
        // us-east-1's figures, as in glacier_standard.
        assert_eq!(e.tiers.standard.total_usd, 71.4472);

        let own = million_mib(GLACIER, Tier::Standard).prices;
        assert_eq!(
            (own.region.as_str(), own.requested_region.as_str()),
            ("us-east-1", "us-east-1")
        );
        assert!(!own.fallback);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let mut i = input(
            &[
                (GLACIER, u64::MAX, Some(u64::MAX)),
                (DEEP, u64::MAX, Some(u64::MAX)),
                (DEEP, u64::MAX, None),
            ],
            u32::MAX,
            Tier::Bulk,
        );
        i.skipped_by_reason.insert("a".into(), u64::MAX);
        i.skipped_by_reason.insert("b".into(), u64::MAX);
        let e = estimate(&i);
        assert_eq!((e.objects, e.skipped, e.bytes), (u64::MAX, u64::MAX, None));
        for t in [&e.tiers.standard, &e.tiers.bulk] {
            assert!(t.total_usd.is_finite() && t.total_usd > 0.0, "{t:?}");
        }
        let e = estimate(&input(
            &[(GLACIER, u64::MAX, Some(u64::MAX))],
            1,
            Tier::Bulk,
        ));
        assert_eq!(e.bytes, Some(u64::MAX));
        assert!(e.tiers.standard.total_usd.is_finite());
        assert!(serde_json::to_string(&e).is_ok());
    }

    /// The whole answer, field by field: it is the HTTP contract of `POST /estimate`.
    #[test]
    fn json_shape() {
        let mut i = input(&[(GLACIER, 2_000, None)], 7, Tier::Bulk);
        i.skipped_by_reason
            .insert("not archived (STANDARD)".into(), 3);
        i.region = "eu-west-1".into();
        let got = serde_json::to_value(estimate(&i)).unwrap();
        // STANDARD: requests 2,000 / 1,000 * 0.05 = 0.1; batch 0.25 + 2,003 / 1e6 =
        // 0.252003; overhead 0.08698 + 2,000 / 1e6 * 4.45 = 0.09588;
        // total 0.1 + 0.252003 + 0.09588 = 0.447883.
        // BULK: requests 0; total 0.252003 + 0.09588 = 0.347883.
        let want = json!({
            "objects": 2000,
            "skipped": 3,
            "skipped_by_reason": {"not archived (STANDARD)": 3},
            "bytes": null,
            "expiration_days": 7,
            "tier": "BULK",
            "tiers": {
                "STANDARD": {
                    "restore_requests_usd": 0.1,
                    "retrieval_usd": null,
                    "batch_operations_usd": 0.252,
                    "restored_storage_usd": null,
                    "overhead_usd": 0.0959,
                    "total_usd": 0.4479,
                    "excludes": ["retrieval", "restored_storage"],
                    "completion_window_hours": [3, 5]
                },
                "BULK": {
                    "restore_requests_usd": 0.0,
                    "retrieval_usd": null,
                    "batch_operations_usd": 0.252,
                    "restored_storage_usd": null,
                    "overhead_usd": 0.0959,
                    "total_usd": 0.3479,
                    "excludes": ["retrieval", "restored_storage"],
                    "completion_window_hours": [5, 12]
                }
            },
            "completion_window_hours": [5, 12],
            "prices": {
                "region": "us-east-1",
                "requested_region": "eu-west-1",
                "fallback": true,
                "as_of": "2026-11-28",
                "sources": [
                    "https://aws.amazon.com/s3/pricing/",
                    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
                    "https://aws.amazon.com/lambda/pricing/",
                    "https://aws.amazon.com/step-functions/pricing/",
                    "https://aws.amazon.com/sqs/pricing/",
                    "https://aws.amazon.com/sns/pricing/",
                    "https://aws.amazon.com/eventbridge/pricing/"
                ]
            }
        });
        assert_eq!(got, want);
    }
}
