//! Fuzzing of every parser that reads input from outside: the manifest reader and its
//! resumable cursor, the restore-event decoder, the completion-report reader, the
//! create-job request parser and the state machine definition loader.
//!
//! Each case is made by a generator seeded with the run's seed and the case's number,
//! so a case can be made again. The generators mutate real inputs (the AWS fixtures in
//! `tests/fixtures/aws/`, the project's definitions) and inputs built in the documented
//! shapes, so most cases get past "not JSON" into the decoders. A case crashes when its
//! check panics: in the parser, or in a property checked after it (reading in pieces
//! reads what one pass reads, an accepted request reads the same once written out).
//! The first crashing inputs of a target are minimised and reported.
//!
//! `tests/fuzz.rs` runs a few thousand cases of each target in `cargo test`;
//! `scripts/fuzz.sh` (`cargo bench -p gbr-local --bench fuzz`) a million.

mod asl;
mod completion_report;
mod manifest;
mod mutate;
mod request;
mod restore_event;

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Every target, by the name `--target` takes.
pub const TARGETS: [&str; 5] = [
    manifest::NAME,
    restore_event::NAME,
    completion_report::NAME,
    request::NAME,
    asl::NAME,
];

/// Crashes minimised and reported per target; the rest are only counted.
const REPORTED_CRASHES: usize = 3;
/// Checks spent minimising one crash.
const MINIMISE_CHECKS: usize = 20_000;

pub struct Options {
    pub cases: u64,
    pub seed: u64,
    /// How often to print progress; never when `None`.
    pub progress: Option<Duration>,
}

/// What a run of one target found.
pub struct Report {
    pub target: &'static str,
    pub cases: u64,
    pub crashes: u64,
    pub elapsed: Duration,
    /// The first crashes, minimised.
    pub first_crashes: Vec<Crash>,
}

pub struct Crash {
    pub case: u64,
    pub panic: String,
    /// The minimised input, as Rust source.
    pub input: String,
}

impl Report {
    pub fn table_header() -> String {
        format!(
            "{:<20} {:>10} {:>8} {:>11} {:>10}",
            "target", "cases", "crashes", "time", "cases/s"
        )
    }

    pub fn table_row(&self) -> String {
        let seconds = self.elapsed.as_secs_f64();
        format!(
            "{:<20} {:>10} {:>8} {:>9.1} s {:>10.0}",
            self.target,
            self.cases,
            self.crashes,
            seconds,
            self.cases as f64 / seconds.max(1e-9)
        )
    }

    pub fn crashes_text(&self) -> String {
        self.first_crashes
            .iter()
            .map(|c| {
                format!(
                    "{} case {}: {}\n    minimised input: {}\n",
                    self.target, c.case, c.panic, c.input
                )
            })
            .collect()
    }
}

/// Runs `cases` cases of the target named `name`; `None` if there is no such target.
pub fn run(name: &str, options: &Options) -> Option<Report> {
    Some(match name {
        manifest::NAME => run_target(&manifest::Manifest::new(), options),
        restore_event::NAME => run_target(&restore_event::RestoreEvent::new(), options),
        completion_report::NAME => run_target(&completion_report::CompletionReport::new(), options),
        request::NAME => run_target(&request::CreateJob::new(), options),
        asl::NAME => run_target(&asl::AslDefinition::new(), options),
        _ => return None,
    })
}

/// A parser under fuzzing, with the properties it must keep.
pub trait Target {
    type Input: fmt::Debug;
    const NAME: &'static str;

    fn generate(&self, rng: &mut Rng) -> Self::Input;

    /// Runs the parser on `input`; panics if it panics or breaks a property.
    fn check(&self, input: &Self::Input);

    /// Smaller inputs to try when minimising a crash, most promising first.
    fn shrink<'a>(&self, input: &'a Self::Input) -> Box<dyn Iterator<Item = Self::Input> + 'a>;
}

pub fn run_target<T: Target>(target: &T, options: &Options) -> Report {
    install_quiet_hook();
    let started = Instant::now();
    let mut last_progress = started;
    let mut report = Report {
        target: T::NAME,
        cases: 0,
        crashes: 0,
        elapsed: Duration::ZERO,
        first_crashes: Vec::new(),
    };
    for case in 0..options.cases {
        let input = target.generate(&mut Rng::for_case(options.seed, case));
        report.cases += 1;
        if let Some(panic) = panic_of(target, &input) {
            report.crashes += 1;
            if report.first_crashes.len() < REPORTED_CRASHES {
                let input = minimise(target, input, &panic);
                let panic = panic_of(target, &input).unwrap_or(panic);
                report.first_crashes.push(Crash {
                    case,
                    panic: format!("{}: {}", panic.location, panic.message),
                    input: format!("{input:?}"),
                });
            }
        }
        if let Some(every) = options.progress {
            if last_progress.elapsed() >= every {
                eprintln!(
                    "  {}: {} of {} cases, {} crashes, {:.0} s",
                    T::NAME,
                    report.cases,
                    options.cases,
                    report.crashes,
                    started.elapsed().as_secs_f64()
                );
                last_progress = Instant::now();
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// The generators' random source: ChaCha8 (as the simulator's), keyed by the run's seed
/// and the case's number so that any case can be made again on its own.
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn for_case(seed: u64, case: u64) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&case.to_le_bytes());
        Self(ChaCha8Rng::from_seed(key))
    }

    /// A number in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    /// A number in `0..=n`.
    pub fn up_to(&mut self, n: usize) -> usize {
        self.0.random_range(0..=n)
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn byte(&mut self) -> u8 {
        self.0.random()
    }
}

/// Bytes shown as a Rust byte string, so that a crashing input can be pasted into a test.
#[derive(Clone)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// Copies of `bytes` with one run taken out: halves first, down to single bytes.
pub fn removals(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let len = bytes.len();
    std::iter::successors(Some(len.div_ceil(2)), |size| {
        (*size > 1).then_some(size / 2)
    })
    .filter(|size| *size > 0)
    .flat_map(move |size| {
        (0..len).step_by(size).map(move |start| {
            let mut out = bytes[..start].to_vec();
            out.extend_from_slice(&bytes[(start + size).min(len)..]);
            out
        })
    })
}

/// `removals` of a string that leave valid UTF-8.
pub fn string_removals(text: &str) -> impl Iterator<Item = String> + '_ {
    removals(text.as_bytes()).filter_map(|bytes| String::from_utf8(bytes).ok())
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn read_text(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files of a directory of the repository whose names end in `suffix`, by name.
pub fn files_in(relative: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = repo_root().join(relative);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Where a check panicked, and with what message.
#[derive(Debug, Clone)]
struct Panic {
    location: String,
    message: String,
}

thread_local! {
    /// `Some` while a check runs on this thread: the panic it raised, if any.
    static CAUGHT: RefCell<Option<Option<Panic>>> = const { RefCell::new(None) };
}

/// Keeps panics of checks off the terminal (a million cases could print a million of
/// them) and records them instead; other panics are printed as before.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let recorded = CAUGHT.with(|caught| match caught.borrow_mut().as_mut() {
                Some(slot) => {
                    *slot = Some(describe(info));
                    true
                }
                None => false,
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

fn describe(info: &PanicHookInfo<'_>) -> Panic {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_owned());
    Panic {
        location: info
            .location()
            .map_or_else(|| "(unknown location)".to_owned(), ToString::to_string),
        message,
    }
}

fn panic_of<T: Target>(target: &T, input: &T::Input) -> Option<Panic> {
    CAUGHT.with(|caught| *caught.borrow_mut() = Some(None));
    let result = panic::catch_unwind(AssertUnwindSafe(|| target.check(input)));
    let caught = CAUGHT.with(|caught| caught.borrow_mut().take()).flatten();
    result.err().map(|_| {
        caught.unwrap_or(Panic {
            location: "(unknown location)".to_owned(),
            message: "(the panic hook was replaced)".to_owned(),
        })
    })
}

/// The smallest input found that still panics where `panic` did.
fn minimise<T: Target>(target: &T, input: T::Input, panic: &Panic) -> T::Input {
    let mut best = input;
    let mut checks = 0;
    while checks < MINIMISE_CHECKS {
        let smaller = target.shrink(&best).find(|candidate| {
            checks += 1;
            checks <= MINIMISE_CHECKS
                && panic_of(target, candidate).is_some_and(|p| p.location == panic.location)
        });
        match smaller {
            Some(smaller) => best = smaller,
            None => break,
        }
    }
    best
}
