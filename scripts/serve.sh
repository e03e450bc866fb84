#!/usr/bin/env bash
# Installs what is missing, builds, and starts amstore with the filesystem store.
# Extra arguments go to `amstore serve` (defaults: --host 127.0.0.1 --port 5000 --data-dir ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DAMSTORE_BENCH=OFF
exec build/amstore serve "$@"
