#!/usr/bin/env bash
# Runs the system locally end to end. The local stack is not built yet.
set -euo pipefail
echo "not yet: the local stack (moto, the local Step Functions engine and the batch simulator) is still being built."
echo "Meanwhile, check a manifest: cargo run -p gbr-cli -- manifest check FILE"
