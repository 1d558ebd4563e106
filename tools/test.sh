#!/usr/bin/env bash
# Runs Parley's whole test suite: installs what is missing (Debian packages), builds everything
# with warnings as errors, and runs unit and integration tests. Integration tests start their own
# Mosquitto and MariaDB on free loopback ports in temporary folders, and stop them.
#
# Extra arguments go to ctest, e.g. tools/test.sh -L unit   or   tools/test.sh -R StoreSuite
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON)

parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
parley_build build-test
cd build-test
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
