//! The simulation clock: what "now" is and how to wait for a later instant, for the
//! engine and every other activity of the local stack. It is not the core's clock port
//! (`gbr_core::ports::Clock`), which the stack implements on top of this one.
//!
//! Two implementations:
//!
//! - [`VirtualClock`], a discrete-event scheduler. Activities that take part in the
//!   simulation register as participants ([`SimClock::register`] returns a [`Participant`]
//!   guard that deregisters on drop). Time stands still while any participant is working
//!   (including real I/O, such as an HTTP call to a local server); it advances only when
//!   every registered participant is parked in [`SimClock::sleep_until`], and then only to
//!   the earliest pending instant, whose waiter alone is woken. Waiters due at the same
//!   instant are woken one at a time in the order they started waiting, so a run is
//!   deterministic.
//! - [`ScaledClock`], real time sped up for demos: `now = start + elapsed × scale`,
//!   and sleeps last `duration / scale` of real time (Tokio timers).
//!
//! A participant is one activity that the scheduler must wait for. Code that sleeps
//! *within* an activity (for instance a task handler sleeping while its execution waits
//! for it) sleeps on that activity's behalf; an activity must not have two
//! `sleep_until` calls pending at once. A [`SimClock::deadline`] does not park its caller:
//! it fires when the clock reaches its instant because everyone else is parked, which is
//! how timeouts are built (see [`run_until`]).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// A boxed, sendable future (what the object-safe ports in this crate return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The clock the local stack runs on, virtual or scaled.
pub trait SimClock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// Parks the calling participant until the clock reads `at` (at once if it already
    /// does). Dropping the future cancels the wait.
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()>;

    /// Resolves when the clock reads `at`, without parking the caller: the caller is
    /// still considered busy. Used for timeouts around work that may do real I/O.
    /// Dropping the future cancels the deadline.
    fn deadline(&self, at: Timestamp) -> BoxFuture<'static, ()>;

    /// Registers a participant; it is deregistered when the guard is dropped.
    fn register(&self) -> Participant;
}

/// A registration with a clock; dropping it deregisters the participant.
#[must_use = "a participant is deregistered as soon as the guard is dropped"]
pub struct Participant {
    scheduler: Option<Arc<Mutex<Scheduler>>>,
}

impl Participant {
    /// A guard that registers nothing (for clocks that need no participants).
    pub fn detached() -> Self {
        Self { scheduler: None }
    }
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("virtual", &self.scheduler.is_some())
            .finish()
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            let waker = {
                let mut s = lock(&scheduler);
                s.participants -= 1;
                s.try_advance()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// What a timeout reports when the deadline came first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `work` until it finishes or the clock reaches `at`, whichever comes first.
///
/// If the deadline wins, `work` is dropped *before* the deadline, so that a sleep inside
/// `work` is cancelled before the virtual clock may advance again.
pub async fn run_until<F: Future>(
    clock: &dyn SimClock,
    at: Timestamp,
    work: F,
) -> Result<F::Output, Elapsed> {
    let mut work = Box::pin(work);
    let mut deadline = clock.deadline(at);
    let outcome = tokio::select! {
        biased;
        output = &mut work => Ok(output),
        () = &mut deadline => Err(Elapsed),
    };
    drop(work);
    drop(deadline);
    outcome
}

/// Adds a signed duration to a timestamp, saturating at the representable range.
pub fn add(at: Timestamp, duration: SignedDuration) -> Timestamp {
    at.saturating_add(duration).unwrap_or(at)
}

/// Parses a timestamp as the States Language requires: RFC 3339 with an uppercase `T`
/// between date and time and either an uppercase `Z` or a numeric offset
/// (`2016-08-18T17:33:00Z`, `2016-08-18T17:33:00.5+02:00`).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.len() == range.len() && s.iter().all(u8::is_ascii_digit))
    };
    let layout_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !layout_ok {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let zone_ok = match &b[i..] {
        [b'Z'] => true,
        [sign, ..] if *sign == b'+' || *sign == b'-' => {
            b.len() == i + 6 && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6)
        }
        _ => false,
    };
    if !zone_ok {
        return None;
    }
    text.parse().ok()
}

/// Formats an instant as Step Functions does in the context object: UTC, milliseconds.
pub fn format_timestamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn lock(scheduler: &Mutex<Scheduler>) -> MutexGuard<'_, Scheduler> {
    // A panic while holding the lock leaves counters that are still consistent (every
    // update is a single statement), so a poisoned lock is safe to reuse.
    scheduler
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Sleep,
    Deadline,
}

struct Waiter {
    kind: WaitKind,
    waker: Option<Waker>,
}

struct Scheduler {
    now: Timestamp,
    participants: usize,
    parked: usize,
    /// Deadlines that fired and whose futures have not been dropped yet: the holder is
    /// running, so time must not move.
    unacknowledged_deadlines: usize,
    next_sequence: u64,
    queue: BTreeMap<(Timestamp, u64), Waiter>,
    fired: HashSet<u64>,
}

impl Scheduler {
    /// Fires the earliest waiter if every participant is parked; returns its waker.
    fn try_advance(&mut self) -> Option<Waker> {
        if self.unacknowledged_deadlines > 0 || self.parked < self.participants {
            return None;
        }
        let (key, waiter) = self.queue.pop_first()?;
        let (at, sequence) = key;
        if at > self.now {
            self.now = at;
        }
        self.fired.insert(sequence);
        match waiter.kind {
            WaitKind::Sleep => self.parked -= 1,
            WaitKind::Deadline => self.unacknowledged_deadlines += 1,
        }
        waiter.waker
    }
}

/// Deterministic discrete-event time (see the module documentation).
#[derive(Clone)]
pub struct VirtualClock {
    scheduler: Arc<Mutex<Scheduler>>,
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.scheduler);
        f.debug_struct("VirtualClock")
            .field("now", &s.now)
            .field("participants", &s.participants)
            .field("parked", &s.parked)
            .field("pending", &s.queue.len())
            .finish()
    }
}

impl VirtualClock {
    /// A virtual clock that reads `start` until some wait moves it.
    pub fn new(start: Timestamp) -> Self {
        Self {
            scheduler: Arc::new(Mutex::new(Scheduler {
                now: start,
                participants: 0,
                parked: 0,
                unacknowledged_deadlines: 0,
                next_sequence: 0,
                queue: BTreeMap::new(),
                fired: HashSet::new(),
            })),
        }
    }

    /// How many participants are registered.
    pub fn participants(&self) -> usize {
        lock(&self.scheduler).participants
    }

    fn wait(&self, at: Timestamp, kind: WaitKind) -> BoxFuture<'static, ()> {
        let mut wait = VirtualWait {
            scheduler: Arc::clone(&self.scheduler),
            at,
            kind,
            state: WaitState::Idle,
        };
        if kind == WaitKind::Deadline {
            // A deadline exists from its creation, not from its first poll: work raced
            // against it must not be able to move the clock past it first.
            let waker = {
                let mut s = lock(&self.scheduler);
                let waker = wait.enqueue(&mut s, None);
                if let WaitState::Queued(sequence) = wait.state {
                    if s.fired.remove(&sequence) {
                        wait.state = WaitState::Fired { holds_clock: true };
                    }
                }
                waker
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        Box::pin(wait)
    }
}

impl SimClock for VirtualClock {
    fn now(&self) -> Timestamp {
        lock(&self.scheduler).now
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        self.wait(at, WaitKind::Sleep)
    }

    fn deadline(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        self.wait(at, WaitKind::Deadline)
    }

    fn register(&self) -> Participant {
        lock(&self.scheduler).participants += 1;
        Participant {
            scheduler: Some(Arc::clone(&self.scheduler)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitState {
    /// Not polled yet.
    Idle,
    /// In the queue under this sequence number.
    Queued(u64),
    /// Fired; a deadline still holds the clock until it is dropped.
    Fired { holds_clock: bool },
    /// Resolved without waiting (the instant had already come).
    Done,
}

struct VirtualWait {
    scheduler: Arc<Mutex<Scheduler>>,
    at: Timestamp,
    kind: WaitKind,
    state: WaitState,
}

impl VirtualWait {
    /// Puts this wait in the queue (or marks it done if its instant has come), then lets
    /// the clock advance if it can; returns the waker of whoever must run next.
    fn enqueue(&mut self, s: &mut Scheduler, waker: Option<Waker>) -> Option<Waker> {
        if self.at <= s.now {
            self.state = WaitState::Done;
            return None;
        }
        let sequence = s.next_sequence;
        s.next_sequence += 1;
        s.queue.insert(
            (self.at, sequence),
            Waiter {
                kind: self.kind,
                waker,
            },
        );
        if self.kind == WaitKind::Sleep {
            s.parked += 1;
        }
        self.state = WaitState::Queued(sequence);
        s.try_advance()
    }
}

impl Future for VirtualWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut to_wake = None;
        let scheduler = Arc::clone(&this.scheduler);
        let result = {
            let mut s = lock(&scheduler);
            match this.state {
                WaitState::Done | WaitState::Fired { .. } => Poll::Ready(()),
                WaitState::Idle => {
                    to_wake = this.enqueue(&mut s, Some(cx.waker().clone()));
                    match this.state {
                        WaitState::Queued(sequence) if s.fired.remove(&sequence) => {
                            // We were the earliest and everyone else was parked: our own
                            // waker was returned, no need to wake it.
                            to_wake = None;
                            this.state = WaitState::Fired {
                                holds_clock: this.kind == WaitKind::Deadline,
                            };
                            Poll::Ready(())
                        }
                        WaitState::Queued(_) => Poll::Pending,
                        _ => Poll::Ready(()),
                    }
                }
                WaitState::Queued(sequence) => {
                    if s.fired.remove(&sequence) {
                        this.state = WaitState::Fired {
                            holds_clock: this.kind == WaitKind::Deadline,
                        };
                        Poll::Ready(())
                    } else {
                        if let Some(waiter) = s.queue.get_mut(&(this.at, sequence)) {
                            waiter.waker = Some(cx.waker().clone());
                        }
                        Poll::Pending
                    }
                }
            }
        };
        if let Some(waker) = to_wake {
            waker.wake();
        }
        result
    }
}

impl Drop for VirtualWait {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.scheduler);
            match self.state {
                WaitState::Idle | WaitState::Done | WaitState::Fired { holds_clock: false } => None,
                WaitState::Fired { holds_clock: true } => {
                    s.unacknowledged_deadlines -= 1;
                    s.try_advance()
                }
                WaitState::Queued(sequence) => {
                    if s.fired.remove(&sequence) {
                        // Fired but never observed.
                        if self.kind == WaitKind::Deadline {
                            s.unacknowledged_deadlines -= 1;
                            s.try_advance()
                        } else {
                            None
                        }
                    } else {
                        s.queue.remove(&(self.at, sequence));
                        if self.kind == WaitKind::Sleep {
                            s.parked -= 1;
                        }
                        None
                    }
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Real time sped up by a factor, for demos.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: Timestamp,
    origin: tokio::time::Instant,
    scale: f64,
}

impl ScaledClock {
    /// A clock that reads `start` now and runs `scale` times faster than real time.
    ///
    /// # Panics
    /// If `scale` is not a finite positive number.
    pub fn new(start: Timestamp, scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "scale must be a finite positive number, got {scale}"
        );
        Self {
            start,
            origin: tokio::time::Instant::now(),
            scale,
        }
    }

    /// The real instant at which this clock reads `at`.
    fn real_instant(&self, at: Timestamp) -> tokio::time::Instant {
        let simulated = at.duration_since(self.start).as_secs_f64();
        if simulated <= 0.0 {
            return self.origin;
        }
        let real = Duration::try_from_secs_f64(simulated / self.scale).unwrap_or(Duration::MAX);
        self.origin
            .checked_add(real)
            .unwrap_or_else(|| self.origin + Duration::from_secs(86_400 * 365 * 100))
    }
}

impl SimClock for ScaledClock {
    fn now(&self) -> Timestamp {
        let simulated = self.origin.elapsed().as_secs_f64() * self.scale;
        let elapsed = SignedDuration::try_from_secs_f64(simulated).unwrap_or(SignedDuration::MAX);
        add(self.start, elapsed)
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep_until(self.real_instant(at)))
    }

    /// Deadlines guard work that takes real time (a handler calling a local server),
    /// which the scale does not speed up; so a task's `TimeoutSeconds` runs in wall
    /// seconds, as a Lambda function's timeout does.
    fn deadline(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let remaining = at.duration_since(self.now()).as_secs_f64().max(0.0);
        let wait = Duration::try_from_secs_f64(remaining).unwrap_or(Duration::MAX);
        Box::pin(tokio::time::sleep(wait))
    }

    fn register(&self) -> Participant {
        Participant::detached()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn t0() -> Timestamp {
        "2030-01-01T00:00:00Z".parse().expect("valid timestamp")
    }

    fn secs(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn scaled_deadlines_run_in_wall_time_while_sleeps_are_sped_up() {
        let clock = ScaledClock::new(t0(), 1000.0);
        let mut deadline = clock.deadline(add(t0(), secs(10)));
        let mut sleep = clock.sleep_until(add(t0(), secs(10)));
        tokio::time::advance(Duration::from_millis(20)).await;
        assert!(
            futures_util::poll!(&mut sleep).is_ready(),
            "10 clock seconds are 10 ms of wall time"
        );
        assert!(
            futures_util::poll!(&mut deadline).is_pending(),
            "a deadline is not sped up"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(futures_util::poll!(&mut deadline).is_ready());
    }

    #[tokio::test]
    async fn a_lone_sleeper_advances_at_once_to_its_instant() {
        let clock = VirtualClock::new(t0());
        let _me = clock.register();
        clock.sleep_until(add(t0(), secs(3600))).await;
        assert_eq!(clock.now(), add(t0(), secs(3600)));
        // A wait for the past resolves without moving time.
        clock.sleep_until(t0()).await;
        assert_eq!(clock.now(), add(t0(), secs(3600)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn time_stands_still_while_a_participant_is_busy() {
        let clock = VirtualClock::new(t0());
        let busy = clock.register();
        let sleeper = clock.register();
        let woke = Arc::new(AtomicBool::new(false));
        let handle = {
            let clock = clock.clone();
            let woke = Arc::clone(&woke);
            tokio::spawn(async move {
                let _sleeper = sleeper;
                clock.sleep_until(add(t0(), secs(10))).await;
                woke.store(true, Ordering::SeqCst);
            })
        };
        // The busy participant does real (tokio) work for a while: time must not move.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!woke.load(Ordering::SeqCst));
        assert_eq!(clock.now(), t0());
        drop(busy);
        handle.await.expect("sleeper task");
        assert!(woke.load(Ordering::SeqCst));
        assert_eq!(clock.now(), add(t0(), secs(10)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleepers_wake_in_time_order_and_ties_in_arrival_order() {
        let clock = VirtualClock::new(t0());
        let log = Arc::new(Mutex::new(Vec::new()));
        // Register everyone before anyone sleeps, so no one runs ahead.
        let guards: Vec<Participant> = (0..4).map(|_| clock.register()).collect();
        let delays = [30, 10, 30, 20];
        let mut handles = Vec::new();
        for (i, (guard, delay)) in guards.into_iter().zip(delays).enumerate() {
            let clock = clock.clone();
            let log = Arc::clone(&log);
            handles.push(tokio::spawn(async move {
                let _guard = guard;
                // Stagger the moment each one starts waiting so that arrival order is i.
                tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
                clock.sleep_until(add(t0(), secs(delay))).await;
                log.lock().expect("log").push((i, clock.now()));
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
        let log = log.lock().expect("log").clone();
        assert_eq!(
            log,
            vec![
                (1, add(t0(), secs(10))),
                (3, add(t0(), secs(20))),
                (0, add(t0(), secs(30))),
                (2, add(t0(), secs(30))),
            ]
        );
    }

    #[tokio::test]
    async fn a_deadline_fires_only_when_everyone_is_parked() {
        let clock = VirtualClock::new(t0());
        let _me = clock.register();
        // Work that sleeps 100 s under a 30 s deadline: the deadline wins, at exactly 30 s.
        let c = clock.clone();
        let outcome = run_until(&clock, add(t0(), secs(30)), async move {
            c.sleep_until(add(t0(), secs(100))).await;
        })
        .await;
        assert_eq!(outcome, Err(Elapsed));
        assert_eq!(clock.now(), add(t0(), secs(30)));
        // The cancelled sleep left nothing behind: a new sleep goes to its own instant.
        clock.sleep_until(add(t0(), secs(40))).await;
        assert_eq!(clock.now(), add(t0(), secs(40)));
    }

    #[tokio::test]
    async fn work_that_finishes_first_beats_the_deadline() {
        let clock = VirtualClock::new(t0());
        let _me = clock.register();
        let c = clock.clone();
        let outcome = run_until(&clock, add(t0(), secs(30)), async move {
            c.sleep_until(add(t0(), secs(5))).await;
            7
        })
        .await;
        assert_eq!(outcome, Ok(7));
        assert_eq!(clock.now(), add(t0(), secs(5)));
        // The abandoned deadline no longer exists: the next sleep goes past 30 s.
        clock.sleep_until(add(t0(), secs(60))).await;
        assert_eq!(clock.now(), add(t0(), secs(60)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_does_not_fire_during_real_work() {
        let clock = VirtualClock::new(t0());
        let _me = clock.register();
        let outcome = run_until(&clock, add(t0(), secs(1)), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "done"
        })
        .await;
        assert_eq!(outcome, Ok("done"));
        assert_eq!(clock.now(), t0());
    }

    #[test]
    fn timestamps_follow_the_states_language_profile() {
        let ok = [
            ("2016-08-18T17:33:00Z", "2016-08-18T17:33:00Z"),
            ("2016-08-18T17:33:00.25Z", "2016-08-18T17:33:00.25Z"),
            ("2016-08-18T19:33:00+02:00", "2016-08-18T17:33:00Z"),
        ];
        for (text, utc) in ok {
            let parsed = parse_timestamp(text).expect(text);
            assert_eq!(parsed, utc.parse::<Timestamp>().expect("utc"), "{text}");
        }
        let bad = [
            "2016-08-18t17:33:00Z",
            "2016-08-18T17:33:00z",
            "2016-08-18 17:33:00Z",
            "2016-08-18T17:33:00",
            "2016-08-18T17:33Z",
            "2016-08-18T17:33:00.Z",
            "2016-08-18T17:33:00+0200",
            "2016-13-18T17:33:00Z",
            "not a time",
        ];
        for text in bad {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert_eq!(
            format_timestamp(parse_timestamp("2016-08-18T17:33:00.1+00:00").expect("ts")),
            "2016-08-18T17:33:00.100Z"
        );
    }

    /// On paused Tokio time, which advances only to the next timer.
    #[tokio::test(start_paused = true)]
    async fn scaled_clock_runs_faster_than_real_time() {
        let clock = ScaledClock::new(t0(), 3600.0);
        let before = tokio::time::Instant::now();
        clock.sleep_until(add(t0(), secs(360))).await;
        assert_eq!(before.elapsed(), Duration::from_millis(100));
        assert_eq!(clock.now(), add(t0(), secs(360)));
    }
}
