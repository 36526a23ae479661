#!/usr/bin/env bash
# Lints the deployment: template.yaml with cfn-lint, statemachine/*.asl.json with
# asl-validator (cfn-lint does not read the file DefinitionUri points at). Both tools
# are pinned and installed on first use: cfn-lint into the project's virtualenv (the
# one scripts/moto.sh uses), asl-validator from tests/deploy/package-lock.json.
set -euo pipefail

CFN_LINT_VERSION="1.58.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GBR_VENV:-$HOME/.cache/glacier-bulk-restore/venv}"
PYTHON="${PYTHON:-python3}"
DEPLOY="$ROOT/tests/deploy"

if [[ ! -x "$VENV/bin/python" ]]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))' 2>/dev/null || true)"
if [[ "$installed" != "$CFN_LINT_VERSION" || ! -x "$VENV/bin/cfn-lint" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi

# npm ci installs exactly the lock file's versions; skipped when they are in place.
if [[ ! -x "$DEPLOY/node_modules/.bin/asl-validator" ]] \
    || ! cmp -s "$DEPLOY/package-lock.json" "$DEPLOY/node_modules/.package-lock.json.copy"; then
    (cd "$DEPLOY" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$DEPLOY/package-lock.json" "$DEPLOY/node_modules/.package-lock.json.copy"
fi

echo "cfn-lint $CFN_LINT_VERSION: template.yaml"
"$VENV/bin/cfn-lint" -- "$ROOT/template.yaml"

shopt -s nullglob
definitions=("$ROOT"/statemachine/*.asl.json)
if [[ ${#definitions[@]} -eq 0 ]]; then
    echo "no statemachine/*.asl.json to check" >&2
    exit 1
fi
for definition in "${definitions[@]}"; do
    "$DEPLOY/node_modules/.bin/asl-validator" --json-path "$definition"
done
echo "deployment checks passed"
