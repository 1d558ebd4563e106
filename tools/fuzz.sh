#!/usr/bin/env bash
# Fuzzes Parley's hostile-input paths with libFuzzer (docs/testing.md): installs clang 14 and its
# sanitizer runtimes if missing, builds the targets of tests/fuzz in build-fuzz/ (ASan + UBSan +
# libFuzzer), runs each for a bounded time starting from its checked-in corpus
# (tests/fuzz/corpus/<target>/), then rebuilds that corpus minimal with what the run reached.
#
#   tools/fuzz.sh [SECONDS-PER-TARGET [TARGET...]]     default: 60 s each, every target
#   targets: decoder commands scripts luajson image
#
# Exits non-zero if any target found a crash, a leak, a sanitizer report, a timeout or an
# out-of-memory; the reproducer is left in build-fuzz/fuzz-out/<target>/ (crash-*, leak-*, ...),
# and `build-fuzz/tests/fuzz/parley_fuzz_<target> <reproducer>` replays it. Not part of CI.
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decoder commands scripts luajson image)
fi

parley_install_packages "${PARLEY_FUZZ_PACKAGES[@]}"
export CC=clang-14 CXX=clang++-14
PARLEY_CMAKE_ARGS=(-DPARLEY_FUZZ=ON -DPARLEY_BUILD_TESTS=OFF)
parley_build build-fuzz "${targets[@]/#/parley_fuzz_}"

# Leaks fail the run; UBSan reports stop it with a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for target in "${targets[@]}"; do
    binary=build-fuzz/tests/fuzz/parley_fuzz_$target
    corpus=tests/fuzz/corpus/$target
    out=build-fuzz/fuzz-out/$target
    rm -rf "$out/new"
    mkdir -p "$out/new" "$corpus"
    echo "parley: fuzzing $target for ${seconds}s (corpus $corpus, log $out/fuzz.log)"
    status=0
    # New inputs go to the first folder ($out/new); the checked-in corpus is only read.
    # PARLEY_FUZZ_FLAGS adds libFuzzer flags, e.g. "-jobs=2 -workers=2" or "-only_ascii=1".
    # shellcheck disable=SC2086
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -max_len=8192 \
        -print_final_stats=1 -dict=tests/fuzz/parley.dict -artifact_prefix="$out/" \
        ${PARLEY_FUZZ_FLAGS:-} "$out/new" "$corpus" \
        >"$out/fuzz.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
        "$out/fuzz.log" || true
    if [ "$status" -ne 0 ]; then
        echo "parley: $target FAILED (exit $status); reproducer and log in $out/:" >&2
        ls "$out" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' >&2 || true
        grep -E -m 20 'ERROR: |runtime error:|SUMMARY:|broken promise|==[0-9]+==' "$out/fuzz.log" >&2 || true
        failed+=("$target")
        continue
    fi
    # Rebuild the corpus minimal: the hand-written seeds (named files; reproducers of past bugs
    # among them) and then the fewest generated inputs (hash-named) that reach every edge the old
    # corpus and this run reached. -use_counters=0 counts edges, not how often each ran: it keeps
    # about a quarter of what a plain merge would, and the next run rediscovers the counts.
    before=$(ls "$corpus" | wc -l)
    rm -rf "$out/minimal"
    mkdir -p "$out/minimal"
    find "$corpus" -maxdepth 1 -type f ! -regex '.*/[0-9a-f]\{40\}' -exec cp {} "$out/minimal/" \;
    "$binary" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2560 -max_len=8192 \
        "$out/minimal" "$corpus" "$out/new" >"$out/merge.log" 2>&1
    rm -rf "$corpus"
    mv "$out/minimal" "$corpus"
    echo "parley: $target corpus $before -> $(ls "$corpus" | wc -l) inputs"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "parley: fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "parley: fuzzing found nothing in ${targets[*]} (${seconds}s each)"
