#!/usr/bin/env bash
# Prints the attachments figures of docs/attachments.md ("Performance"): upload and download MiB/s
# of a 25 MiB file through a private local broker and parleyd (SQLite), next to the raw broker's
# throughput for the same bytes in the same run, and parleyd's RSS during the upload. The two
# chunk paths alternate, twice, in one sitting (the machine's noise is large): base64 in JSON
# (--path json, 32 KiB chunks) and raw bytes on .../bin (--path bin, 256 KiB chunks); then raw
# bytes for 5 MiB, so the memory can be compared across sizes. The load average is printed
# before each run. Builds the plain optimized tree (build-test/) first.
#   tools/bench-attachments.sh [--window N]
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=OFF)
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
