#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite once:
#   format-core unit and golden-corpus tests (GoogleTest), storage and server unit tests, the
#   interop suite
#   against the real @automerge/automerge (Node), the server suite (real amstore processes
#   on loopback), and a time-bounded libFuzzer run under ASan/UBSan.
# Environment: FUZZ_SECONDS (default 60; 0 skips fuzzing).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh || exit 1
scripts/build.sh || exit 1

(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) || exit 1
corpus="$root/build/corpus"
rm -rf "$corpus"
node tests/interop/gen-corpus.mjs "$corpus" || exit 1

passed=0
failed=0
failures=()
suite() {  # suite NAME COMMAND...
  local name=$1
  shift
  echo
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

export AMSTORE_BIN="$root/build/amstore"
export AMSTORE_CORPUS="$corpus"
suite "format core (gtest)" build/tests/automerge_tests --gtest_brief=1
if [ -x build/tests/storage_tests ]; then
  suite "storage (gtest)" build/tests/storage_tests --gtest_brief=1
fi
if [ -x build/tests/server_tests ]; then
  suite "server units (gtest)" build/tests/server_tests --gtest_brief=1
fi
suite "interop with @automerge/automerge" node --test-reporter=spec tests/interop/verify.mjs \
  --amstore "$AMSTORE_BIN" --corpus "$corpus"
if [ -f tests/server/run.mjs ]; then
  suite "server (real processes on loopback)" node tests/server/run.mjs
fi
if [ "${FUZZ_SECONDS:-60}" != 0 ] && [ -x scripts/fuzz.sh ]; then
  suite "fuzzing (libFuzzer, ASan+UBSan)" scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
