#!/usr/bin/env bash
# Runs Parley's whole test suite: installs what is missing (Debian packages), builds everything
# with warnings as errors, and runs unit and integration tests. Integration tests start their own
# Mosquitto and MariaDB on free loopback ports in temporary folders, and stop them.
#
# The build is instrumented with AddressSanitizer (LeakSanitizer included) and
# UndefinedBehaviorSanitizer, in build-test-san/: that is what CI runs, and any sanitizer report
# fails the test that caused it, parleyd's included (tests/support). PARLEY_SANITIZE=0
# tools/test.sh builds and runs the same suite on the plain optimized build in build-test/ instead
# (what tools/up.sh and the benchmarks run). docs/testing.md says why CI builds only one of them.
#
# The TypeScript SDK's and the web client's tests (label web: lint, build, the SDK against real
# servers, the page in Debian's Chromium) are ctest tests like the others; their npm packages
# come from clients/package-lock.json (npm ci).
#
# Extra arguments go to ctest, e.g. tools/test.sh -L unit   or   tools/test.sh -R StoreSuite
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh

parley_install_packages "${PARLEY_TEST_PACKAGES[@]}"
# The SDK's and the web client's tests (label web) run under ctest too, from clients/.
parley_install_node
parley_npm_ci
if [ "${PARLEY_SANITIZE:-1}" = 0 ]; then
    dir=build-test
    PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=OFF)
else
    dir=build-test-san
    PARLEY_CMAKE_ARGS=(-DPARLEY_WERROR=ON -DPARLEY_SANITIZE=ON)
    # Inherited by every process the tests start (parleyd, the clients). Suppressions cover
    # libraries that are not Parley's code, each entry with its reason.
    supp=$PARLEY_ROOT/tests/sanitizers
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1}
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp}
fi
parley_build "$dir"
cd "$dir"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
