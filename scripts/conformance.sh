#!/usr/bin/env bash
# Conformance of the Step Functions engine in crates/local against an independent
# implementation, the npm package aws-local-stepfunctions (pinned, run on a pinned
# Node 22 from npm), and validation of the definitions with asl-validator (pinned).
#
#   bash scripts/conformance.sh                  # every scenario in tests/conformance/scenarios
#   bash scripts/conformance.sh path/to/a.json   # only these scenarios (e.g. one for statemachine/*.asl.json)
#
# A scenario names a definition (tests/conformance/definitions/*.asl.json or
# statemachine/*.asl.json), its DefinitionSubstitutions, an input and a queue of scripted
# results per task resource; see tests/conformance/run-sfn.mjs. The Node side writes one
# trace per scenario to tests/conformance/traces/, then `cargo test -p gbr-local --test
# conformance` runs the same scenarios in our engine and compares.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conformance="$root/tests/conformance"
traces="$conformance/traces"

# Pinned, exact versions: package.json lists them and package-lock.json locks the tree.
stamp="$conformance/node_modules/.installed-from-package-lock.json"
if ! cmp -s "$conformance/package-lock.json" "$stamp" 2>/dev/null; then
  echo "== installing aws-local-stepfunctions, asl-validator and node 22 (npm ci)"
  (cd "$conformance" && npm ci --no-audit --no-fund)
  cp "$conformance/package-lock.json" "$stamp"
fi
node="$conformance/node_modules/node/bin/node"
node_version="$("$node" --version)"
case "$node_version" in
  v22.*) ;;
  *) echo "expected Node 22 from the npm package node@22, got $node_version" >&2; exit 1 ;;
esac

scenarios=()
if [ "$#" -gt 0 ]; then
  for scenario in "$@"; do
    scenarios+=("$(cd "$(dirname "$scenario")" && pwd)/$(basename "$scenario")")
  done
else
  for scenario in "$conformance"/scenarios/*.json; do
    scenarios+=("$scenario")
  done
fi
if [ "${#scenarios[@]}" -eq 0 ]; then
  echo "no scenario to run" >&2
  exit 1
fi

# The project's own definitions, if any, must at least be valid ASL (their resources
# are ${...} substitutions, so ARNs are checked only through scenarios).
shopt -s nullglob
for definition in "$root"/statemachine/*.asl.json; do
  echo "== asl-validator $definition"
  "$node" "$conformance/node_modules/asl-validator/dist/bin/asl-validator.js" \
    --no-arn-check --json-path "$definition"
done
shopt -u nullglob

echo "== aws-local-stepfunctions ($node_version): ${#scenarios[@]} scenario(s)"
"$node" "$conformance/run-sfn.mjs" --out "$traces" "${scenarios[@]}"

echo "== our engine (cargo test -p gbr-local --test conformance)"
cd "$root"
GBR_CONFORMANCE_SCENARIOS="${scenarios[*]}" GBR_CONFORMANCE_TRACES="$traces" \
  cargo test -p gbr-local --test conformance -- --nocapture
