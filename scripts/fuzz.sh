#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and runs them:
# tests/fuzz/parse_fuzzer (chunks and documents) for SECONDS (default 60), then
# tests/fuzz/scan_fuzzer (the scans of a log or snapshot for whole chunks, the same seeds)
# and tests/fuzz/target_fuzzer (HTTP request targets) for a sixth of that each (at least
# 5 s). Exits non-zero if a fuzzer finds a crash, a sanitizer report, a violated round-trip
# invariant, a leak, a timeout or an OOM.
#
#   scripts/fuzz.sh [SECONDS]
#
# Seeds: the golden corpus in $AMSTORE_CORPUS (every */doc.bin, */changes/*.bin and
# */forks/*.bin, plus each scenario's changes concatenated), or, without it, the byte
# examples of the format spec (§11). New inputs found accumulate in build-fuzz/fuzz-corpus/;
# crash reproducers are written to build-fuzz/fuzz-artifacts/ (replay one with
# build-fuzz/tests/fuzz/parse_fuzzer FILE, or scan_fuzzer or target_fuzzer for theirs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
build="$root/build-fuzz"

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAMSTORE_FUZZ=ON -DAMSTORE_SANITIZE=ON -DAMSTORE_BENCH=OFF >/dev/null
cmake --build "$build" --target parse_fuzzer scan_fuzzer target_fuzzer

seeds="$build/fuzz-seeds"
corpus="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus" "$artifacts"

hex_to_file() {  # hex_to_file HEX FILE
  perl -e 'print pack("H*", $ARGV[0])' "$1" >"$2"
}

if [ -n "${AMSTORE_CORPUS:-}" ] && [ -d "$AMSTORE_CORPUS" ]; then
  # The corpus's files in one copy, as its tree (libFuzzer reads seed directories
  # recursively; a cp per file took minutes for its ~13,000 files), then all but the
  # binaries dropped.
  cp -R "$AMSTORE_CORPUS"/. "$seeds"/
  find "$seeds" -type f ! -name '*.bin' -delete
  for dir in "$seeds"/*/; do
    # All changes of the scenario in one input: they load (and round-trip) as a document.
    if compgen -G "$dir/changes/*.bin" >/dev/null; then
      cat "$dir"/changes/*.bin >"$dir/all-changes.bin"
    fi
  done
  n=$(find "$seeds" -type f | wc -l)
  echo "fuzz.sh: $n seeds from the golden corpus $AMSTORE_CORPUS"
else
  # Spec §11: document chunk, bb's change, aa's change, the empty change, the empty document.
  doc=856f4a834593f129009b010201aa01bb01c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc44eed287e0701030303130323024003430256020d01040204130415082105230534024204560657028001058101028301027e00017e01007e030102007e00017f00020700037f0000037f0200037f007f016c020178000102007e01007c027f037f03017f0203017f0002147f0201027e000102007f017f0401
  bb=856f4a83c9e18086014a016f0f573972d6d33a4db147c4063e8ee13185ce9e17f1218e85936c61a73e53b401bb010400000101aa08150334014202560257017002710273027f0178017f017f14027f017f017f01
  aa=856f4a836f0f5739013b0001aa01010000000901040204130415073402420456045701700200027f0000027f0200027f007e0178016c000102017d0102017d140002010300
  empty_change=856f4a831960cda1010e0001aa01010005656d7074790000
  empty_doc=856f4a83b81a9544000400000000
  hex_to_file "$doc" "$seeds/spec-11.1-doc.bin"
  hex_to_file "$bb" "$seeds/spec-11.2-bb.bin"
  hex_to_file "$aa" "$seeds/spec-11.2-aa.bin"
  hex_to_file "$aa$bb" "$seeds/spec-11.2-aa-bb.bin"
  hex_to_file "$doc$bb" "$seeds/spec-doc-plus-bb.bin"
  hex_to_file "$empty_change" "$seeds/spec-11.3-empty-change.bin"
  hex_to_file "$empty_doc" "$seeds/spec-11.3-empty-doc.bin"
  echo "fuzz.sh: AMSTORE_CORPUS not set; 7 seeds from the spec examples"
fi

# run_fuzzer TARGET SECONDS MAX_LEN CORPUS SEEDS WHAT: runs build-fuzz/tests/fuzz/TARGET;
# on a finding, lists the reproducers and exits with the fuzzer's status.
run_fuzzer() {
  local target=$1 secs=$2 max_len=$3 corpus_dir=$4 seed_dir=$5 what=$6 status=0
  echo "fuzz.sh: fuzzing $what for ${secs}s"
  "$build/tests/fuzz/$target" -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len="$max_len" -timeout=30 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus_dir" "$seed_dir" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: FAILED ($target, exit $status); reproducers:" >&2
    ls -l "$artifacts" >&2 || true
    exit "$status"
  fi
  echo "fuzz.sh: no crashes in ${secs}s of $what"
}

run_fuzzer parse_fuzzer "$seconds" 16384 "$corpus" "$seeds" "chunks and documents"

# A log's or snapshot's bytes as read from disk: the same seeds (whole chunks, one after
# another), which mutations damage.
target_seconds=$((seconds / 6 > 5 ? seconds / 6 : 5))
scan_corpus="$build/scan-corpus"
mkdir -p "$scan_corpus"
run_fuzzer scan_fuzzer "$target_seconds" 16384 "$scan_corpus" "$seeds" \
  "the scans for whole chunks"

# Request targets: seeded with the routes and a since list.
target_seeds="$build/target-seeds"
target_corpus="$build/target-corpus"
rm -rf "$target_seeds"
mkdir -p "$target_seeds" "$target_corpus"
h=$(printf 'ab%.0s' $(seq 32))
printf '/metrics' >"$target_seeds/metrics"
printf '/my-doc' >"$target_seeds/doc"
printf '/my.doc_2/json' >"$target_seeds/json"
printf '/doc%%2D1?x=1&since=%s,%s&since=' "$h" "$h" >"$target_seeds/since"
printf '/..%%2F..%%2Fetc%%2Fpasswd' >"$target_seeds/escape"
run_fuzzer target_fuzzer "$target_seconds" 4096 "$target_corpus" "$target_seeds" \
  "request targets"
