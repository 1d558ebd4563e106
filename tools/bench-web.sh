#!/usr/bin/env bash
# The web client's benchmark (docs/performance.md, "Web client") in one command: installs what is
# missing (Debian packages, npm ci), builds parleyd, the broker plugin, the SDK and the page, and
# runs clients/web/bench/bench.ts: it starts its own Mosquitto and parleyd on free loopback ports
# in a temporary folder, seeds 2,000 conversations and a conversation of 10,000 messages, drives
# Debian's Chromium, prints Markdown tables and stops everything. Takes a few minutes.
# Environment: PARLEY_BENCH_CONVERSATIONS (default 2000), PARLEY_BENCH_MESSAGES (default 10000).
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=OFF)

parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
parley_install_node
parley_npm_ci
parley_build build-test parleyd parley_jwt_auth
(cd clients && npm run --silent build >/dev/null && npm run --silent build:test --workspace web)
export PARLEY_SOURCE_DIR=$PARLEY_ROOT
export PARLEY_PARLEYD=$PARLEY_ROOT/build-test/core/parleyd
export PARLEY_JWT_PLUGIN=$PARLEY_ROOT/build-test/broker/jwt_auth/parley_jwt_auth.so
cd clients
exec npm run --silent bench
