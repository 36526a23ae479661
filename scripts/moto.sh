#!/usr/bin/env bash
# Installs the pinned moto server into a virtualenv (once) and prints the path of its
# `moto_server` executable. Idempotent: when the pinned version is already installed it
# only checks and prints. Tests find the server through GBR_MOTO_SERVER or this venv.
set -euo pipefail

MOTO_VERSION="5.2.5"
VENV="${GBR_VENV:-$HOME/.cache/glacier-bulk-restore/venv}"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV" >&2
fi

installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)"
if [[ "$installed" != "$MOTO_VERSION" || ! -x "$VENV/bin/moto_server" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi

echo "$VENV/bin/moto_server"
