#!/usr/bin/env bash
# The benchmark of docs/performance.md in one command: installs what is missing (Debian
# packages, and the Socket.IO peer's npm packages from clients/package-lock.json), builds, and
# runs parley-bench-suite, which starts its own Mosquitto, MariaDB, parleyd and Socket.IO server
# on free loopback ports in temporary folders, runs the same loads against the broker + null relay
# (the ceiling), parleyd + SQLite, parleyd + MariaDB and Socket.IO + mysql2 + MariaDB, prints
# Markdown tables and stops everything. Takes about 5 minutes. Extra arguments go to the suite,
# e.g. tools/bench.sh --seconds 5 --only raw,mariadb
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON)

parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
parley_install_node
parley_npm_ci
parley_build build-test parley-bench-suite parley-bench parleyd parley_notify
exec build-test/bench/parley-bench-suite "$@"
