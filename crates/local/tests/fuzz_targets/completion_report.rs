//! The completion-report reader (`gbr_core::completion_report`): the report's
//! `manifest.json`, its schema and its result rows never make it panic, and reading the
//! rows in byte ranges of any size with any row limit (`read_chunk`, as the poll task
//! does) reads the rows one pass reads, or stops at a row longer than a range.
//!
//! Cases are mutations of AWS's example report (`tests/fixtures/aws/completion-report/`)
//! mixed with rows built in every order and form the reader accepts.

use gbr_core::completion_report::{
    ReportColumns, ReportRow, ReportSummary, RowError, RowPosition, parse_report_manifest,
    read_chunk, read_report_rows,
};
use serde_json::Value;

use super::mutate::{Dictionary, json_text, mutate_bytes, random_string};
use super::{Bytes, Rng, Target, read_text, removals};

pub const NAME: &str = "completion-report";

const FIXTURES: &str = "tests/fixtures/aws/completion-report";

type Rows = Vec<Result<ReportRow, RowError>>;

#[derive(Debug)]
pub struct Case {
    manifest: Bytes,
    csv: Bytes,
    read_bytes: usize,
    max_rows: u64,
}

pub struct CompletionReport {
    manifests: Vec<Value>,
    fixture_rows: Vec<String>,
    /// The columns of AWS's example, for cases whose manifest is not valid.
    example_columns: ReportColumns,
    dictionary: Dictionary,
}

impl CompletionReport {
    pub fn new() -> Self {
        let manifest: Value =
            serde_json::from_str(&read_text(&format!("{FIXTURES}/manifest.json")))
                .expect("the example manifest is JSON");
        let schema = manifest["ReportSchema"]
            .as_str()
            .expect("the example has a schema");
        let example_columns =
            ReportColumns::from_schema(schema).expect("the example schema is read");
        let fixture_rows = ["results-failed", "results-succeeded"]
            .into_iter()
            .flat_map(|name| {
                read_text(&format!("{FIXTURES}/{name}.lambda-invoke.csv"))
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let manifests = vec![manifest];
        let dictionary = Dictionary::from_seeds(
            &manifests,
            &[
                "Bucket",
                "Key",
                "VersionId",
                "TaskStatus",
                "ErrorCode",
                "HTTPStatusCode",
                "ResultMessage",
                "Report_CSV_20180820",
                "succeeded",
                "failed",
            ],
        );
        Self {
            manifests,
            fixture_rows,
            example_columns,
            dictionary,
        }
    }

    fn row(&self, rng: &mut Rng) -> String {
        if rng.one_in(4) {
            return rng.pick(&self.fixture_rows).clone();
        }
        const KEYS: &[&str] = &[
            "k",
            "a%20b%2Cc",
            "x+y",
            "%zz",
            "%FF",
            "caf%C3%A9",
            "",
            "\"q,\"\"\"",
        ];
        const STATUSES: &[&str] = &["succeeded", "failed", "SUCCEEDED", "Failed", "maybe", ""];
        const CODES: &[&str] = &[
            "200",
            "202",
            "404",
            "409",
            "403",
            "500",
            "099",
            "600",
            "20",
            "2000",
            "NoSuchKey",
            "RestoreAlreadyInProgress",
            "InvalidObjectState",
            "",
        ];
        const MESSAGES: &[&str] = &["Successful", "", "\"a, b\"", "\"line\nbreak\"", "\"\"\"\""];
        let (code, status) = (*rng.pick(CODES), *rng.pick(CODES));
        let mut fields = vec![
            (*rng.pick(&["b-1", "awsexamplebucket1", "Bad_Bucket", ""])).to_owned(),
            (*rng.pick(KEYS)).to_owned(),
            (*rng.pick(&["", "v1", "null"])).to_owned(),
            (*rng.pick(STATUSES)).to_owned(),
            code.to_owned(),
            status.to_owned(),
            (*rng.pick(MESSAGES)).to_owned(),
        ];
        match rng.below(8) {
            0 => fields.truncate(rng.below(fields.len())),
            1 => fields.push(random_string(rng, &self.dictionary)),
            2 => {
                let i = rng.below(fields.len());
                fields[i] = random_string(rng, &self.dictionary);
            }
            _ => {}
        }
        fields.join(",")
    }
}

impl Target for CompletionReport {
    type Input = Case;
    const NAME: &'static str = NAME;

    fn generate(&self, rng: &mut Rng) -> Case {
        let manifest = json_text(rng, &self.manifests, &self.dictionary).into_bytes();
        let mut csv = Vec::new();
        for _ in 0..rng.below(16) {
            csv.extend_from_slice(self.row(rng).as_bytes());
            csv.extend_from_slice(
                rng.pick(&["\n", "\n", "\n", "\r\n", "\r", "\n\n"])
                    .as_bytes(),
            );
        }
        if rng.one_in(4) {
            mutate_bytes(rng, &mut csv, &self.dictionary);
        }
        let read_bytes = if rng.one_in(2) {
            1 + rng.below(64)
        } else {
            1 + rng.up_to(csv.len() + 8)
        };
        Case {
            manifest: Bytes(manifest),
            read_bytes,
            max_rows: if rng.one_in(5) {
                u64::MAX
            } else {
                1 + rng.below(5) as u64
            },
            csv: Bytes(csv),
        }
    }

    fn check(&self, case: &Case) {
        // Messages are made too: a panic in an error's Display is a panic.
        let columns = parse_report_manifest(&case.manifest.0)
            .map_err(|e| e.to_string())
            .and_then(|m| ReportColumns::from_schema(&m.report_schema).map_err(|e| e.to_string()))
            .unwrap_or(self.example_columns);
        let csv = case.csv.0.as_slice();
        let whole: Rows = read_report_rows(columns, csv).collect();
        let mut summary = ReportSummary::default();
        for row in whole.iter().flatten() {
            let _ = row.failure();
            summary.add(row);
        }
        assert_eq!(summary.tasks, whole.iter().flatten().count() as u64);

        let (read, stopped_at) = read_in_ranges(columns, csv, case.read_bytes, case.max_rows);
        match stopped_at {
            None => assert_eq!(read, whole, "reading in byte ranges read other rows"),
            Some(at) => {
                assert_eq!(
                    whole.get(..read.len()),
                    Some(read.as_slice()),
                    "the rows before a stop differ from one pass"
                );
                assert!(
                    longest_row(csv) >= case.read_bytes,
                    "reads of {} bytes stopped at {at:?} though no row is that long",
                    case.read_bytes
                );
            }
        }
    }

    fn shrink<'a>(&self, case: &'a Case) -> Box<dyn Iterator<Item = Case> + 'a> {
        let csv = removals(&case.csv.0).map(|csv| Case {
            manifest: case.manifest.clone(),
            csv: Bytes(csv),
            ..*case
        });
        let manifest = removals(&case.manifest.0).map(|manifest| Case {
            manifest: Bytes(manifest),
            csv: case.csv.clone(),
            ..*case
        });
        Box::new(csv.chain(manifest))
    }
}

/// Reads as the poll task does: ranges of `read_bytes` from the position, at most
/// `max_rows` rows a read. Also returns where the reading stopped, if it stopped
/// because no whole row fitted in a range.
fn read_in_ranges(
    columns: ReportColumns,
    csv: &[u8],
    read_bytes: usize,
    max_rows: u64,
) -> (Rows, Option<RowPosition>) {
    let mut at = RowPosition::default();
    let mut read = Vec::new();
    while (at.byte as usize) < csv.len() {
        let start = at.byte as usize;
        let end = (start + read_bytes).min(csv.len());
        let ends_file = end == csv.len();
        let chunk = read_chunk(columns, &csv[start..end], &at, ends_file, max_rows);
        if chunk.rows.is_empty() && ends_file {
            // Only blank lines were left.
            break;
        }
        if chunk.next.byte == at.byte {
            return (read, Some(at));
        }
        read.extend(chunk.rows);
        at = chunk.next;
        assert_eq!(at.row, read.len() as u64, "the position counts other rows");
    }
    (read, None)
}

/// The most bytes between the ends of two rows, or before the first or after the last.
fn longest_row(csv: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv);
    let mut record = csv::ByteRecord::new();
    let (mut last_end, mut longest) = (0, 0);
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        let end = reader.position().byte() as usize;
        longest = longest.max(end - last_end);
        last_end = end;
    }
    longest.max(csv.len() - last_end)
}
