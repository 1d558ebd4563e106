#!/usr/bin/env bash
# Prints the attachments figures of docs/attachments.md ("Performance"): upload and download MiB/s
# of a 25 MiB file through a private local broker and parleyd (SQLite), next to the raw broker's
# throughput for the same bytes, and parleyd's RSS during the upload; then the same for 5 MiB, so
# the memory can be compared across sizes. Builds the plain optimized tree (build-test/) first.
#   tools/bench-attachments.sh [--window N]
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=OFF)
parley_build build-test parley-bench-attachments
for mib in 25 5; do
    build-test/bench/parley-bench-attachments --mib "$mib" "$@"
done
