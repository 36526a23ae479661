#!/usr/bin/env bash
# What `sam deploy` would ship. Checks the template with `sam validate --lint`, builds
# every function with `sam build` (cargo-lambda: release, arm64, cross-compiled with
# zig), and prints each function's zipped size. The tools are pinned and installed in
# a virtualenv of their own on first use.
#
#   bash scripts/sam-build.sh              # validate, build, print the sizes (slow)
#   bash scripts/sam-build.sh --validate   # only `sam validate --lint` (what CI runs)
set -euo pipefail

SAM_VERSION="1.170.0"
CARGO_LAMBDA_VERSION="1.9.2"
ZIG_VERSION="0.17.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$HOME/.cache/glacier-bulk-restore"
VENV="$CACHE/sam-venv"
BUILD="${SAM_BUILD_DIR:-$CACHE/sam-build}"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$VENV"
fi
version() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
if [[ "$(version aws-sam-cli)" != "$SAM_VERSION" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_VERSION"
fi
export PATH="$VENV/bin:$PATH"
# sam reads no credentials for these commands; a region keeps it from asking.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0

echo "==> sam validate --lint ($SAM_VERSION)"
(cd "$ROOT" && sam validate --lint --template template.yaml)
if [[ "${1:-}" == "--validate" ]]; then
    exit 0
fi

if [[ "$(version cargo-lambda)" != "$CARGO_LAMBDA_VERSION" || "$(version ziglang)" != "$ZIG_VERSION" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIG_VERSION"
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null

echo "==> sam build (cargo-lambda $CARGO_LAMBDA_VERSION, release, arm64) into $BUILD"
started=$(date +%s)
(cd "$ROOT" && sam build --beta-features --template template.yaml --build-dir "$BUILD")
echo "built in $(( $(date +%s) - started )) s"

echo "==> zipped size of each function (what Lambda receives)"
"$VENV/bin/python" - "$BUILD" <<'PY'
import io, os, sys, zipfile
build = sys.argv[1]
total = 0
for name in sorted(os.listdir(build)):
    path = os.path.join(build, name)
    if not os.path.isdir(path):
        continue
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in os.walk(path):
            for f in files:
                full = os.path.join(root, f)
                z.write(full, os.path.relpath(full, path))
    size = len(data.getvalue())
    total += size
    print(f"{name:32} {size / 1e6:7.2f} MB zipped")
print(f"{'all functions':32} {total / 1e6:7.2f} MB zipped")
PY
