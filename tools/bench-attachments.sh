#!/usr/bin/env bash
# Prints the attachments figures of docs/attachments.md ("Performance"): upload and download MiB/s
# of a 25 MiB file through a private local broker and parleyd (SQLite), next to the raw broker's
# throughput for the same bytes in the same run, and parleyd's RSS during the upload. The two
# chunk paths alternate, twice, in one sitting (the machine's noise is large): base64 in JSON
# (--path json, 32 KiB chunks) and raw bytes on .../bin (--path bin, 256 KiB chunks); then raw
# bytes for 5 MiB, so the memory can be compared across sizes. The load average is printed
# before each run. Builds the plain optimized tree (build-test/) first.
#   tools/bench-attachments.sh [--window N]
#
# With --sdk: the TypeScript SDK instead (clients/js/bench/attachments.ts, Node driving
# ParleyClient over TLS as its users do): a 25 MiB file's upload and download, raw bytes and
# base64, next to the raw broker carrying the same raw payloads, in two rounds.
#   tools/bench-attachments.sh --sdk      (PARLEY_BENCH_MIB, PARLEY_BENCH_ROUNDS to change them)
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=OFF)
if [ "${1:-}" = --sdk ]; then
    parley_install_node
    parley_npm_ci
    parley_build build-test parleyd parley_jwt_auth parley_attachments
    (cd clients && npm run --silent build --workspace js && npm run --silent build:test --workspace js)
    export PARLEY_SOURCE_DIR=$PARLEY_ROOT
    export PARLEY_PARLEYD=$PARLEY_ROOT/build-test/core/parleyd
    export PARLEY_JWT_PLUGIN=$PARLEY_ROOT/build-test/broker/jwt_auth/parley_jwt_auth.so
    export PARLEY_ATTACHMENTS_PLUGIN=$PARLEY_ROOT/build-test/plugins/parley_attachments.so
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    exec node clients/js/test-dist/bench/attachments.js
fi
parley_build build-test parley-bench-attachments
run() {
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    build-test/bench/parley-bench-attachments "$@"
}
for round in 1 2; do
    run --mib 25 --path json "$@"
    run --mib 25 --path bin "$@"
done
run --mib 5 --path bin "$@"
