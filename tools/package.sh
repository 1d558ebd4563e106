#!/usr/bin/env bash
# Builds Parley's Debian package, parley-chat_VERSION-1_ARCH.deb, in build-package/: installs what
# is missing (tools/deps.sh), builds the optimized tree without tests or sanitizers, and packs it
# with CPack (packaging/CMakeLists.txt). Prints the path of the package. Install it with
#   apt-get install ./build-package/parley-chat_*.deb
# docs/operations.md, "Installing and running as a service", says what it holds and what to do next.
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh

parley_install_packages "${PARLEY_PACKAGE_PACKAGES[@]}"
dir=build-package
PARLEY_CMAKE_ARGS=(-DPARLEY_BUILD_TESTS=OFF -DPARLEY_SANITIZE=OFF)
parley_build "$dir"
rm -f "$dir"/*.deb
(cd "$dir" && cpack -G DEB >cpack.log) || { cat "$dir/cpack.log" >&2; exit 1; }
ls "$PARLEY_ROOT/$dir"/*.deb
