#!/usr/bin/env bash
# Fuzzes every parser of outside input (the manifest reader and its cursor, the
# restore-event decoder, the completion-report reader, the create-job request parser,
# the state machine definition loader): a million cases per target in a release build,
# printing the cases, crashes and time of each; exits non-zero on any crash. About 7
# minutes on 2 cores, once built. Arguments go to the fuzzer:
# scripts/fuzz.sh --cases 100000 --target manifest --seed 7.
# `cargo test` runs a few thousand cases of each (crates/local/tests/fuzz.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/glacier-bulk-restore/target}"

cargo bench -q -p gbr-local --bench fuzz -- "$@"
