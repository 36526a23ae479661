#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and integration tests.
# Installs what it needs; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/glacier-bulk-restore/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    step "installing $component"
    rustup component add "$component"
  fi
done

step "moto server (pinned, in a virtualenv)"
GBR_MOTO_SERVER="$(bash scripts/moto.sh)"
export GBR_MOTO_SERVER

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "deployment checks: cfn-lint on template.yaml, asl-validator on the state machine"
bash scripts/check-deploy.sh

# The full `sam build` (a release cross-build of every function) takes longer than CI
# allows on two cores; `bash scripts/sam-build.sh` runs it by hand.
step "sam validate --lint (the SAM transform and cfn-lint as sam deploy runs them)"
bash scripts/sam-build.sh --validate

step "Step Functions engine conformance against aws-local-stepfunctions (Node 22)"
bash scripts/conformance.sh

step "cargo test"
cargo test --workspace --locked

# Ignored in a debug build, where it would take most of an hour.
step "SLOW: the restore-event path under load, 300,000 events (release build)"
cargo test --release --locked -p gbr-local --test restore_event_load
