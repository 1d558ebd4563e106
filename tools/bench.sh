#!/usr/bin/env bash
# The benchmark of docs/performance.md in one command: installs what is missing (Debian
# packages), builds, and runs parley-bench-suite, which starts its own Mosquitto, MariaDB and
# parleyd on free loopback ports in temporary folders, runs the load against the raw relay,
# parleyd + SQLite and parleyd + MariaDB, prints a Markdown table and stops everything.
# Takes about 5 minutes. Extra arguments go to the suite, e.g. tools/bench.sh --seconds 5 --only raw,mariadb
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON)

parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
parley_build build-test parley-bench-suite parley-bench parleyd
exec build-test/bench/parley-bench-suite "$@"
