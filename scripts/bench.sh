#!/usr/bin/env bash
# Figures at scale, not pass/fail: whole jobs of 10,000, 100,000 and 1,000,000 objects
# end to end on the local stack in virtual time (wall time per stage, peak memory, what
# each job used as AWS bills it, and its cost per million objects), then the
# restore-event path under load (100,000 objects, each event three times, shuffled, 16
# invocations at once). Sizes may be given: scripts/bench.sh 10000 100000.
# The 1,000,000-object job takes about a quarter of an hour on 2 cores. Fuzzing the
# parsers (pass/fail, a million cases each) is scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/glacier-bulk-restore/target}"

echo "==> installing the pinned moto server (once)"
GBR_MOTO_SERVER="$(bash scripts/moto.sh)"
export GBR_MOTO_SERVER

echo "==> whole jobs (cargo bench -p gbr-local --bench scale)"
cargo bench -q -p gbr-local --bench scale -- "$@"

echo "==> the restore-event path under load (cargo bench -p gbr-local --bench restore_events)"
cargo bench -q -p gbr-local --bench restore_events
