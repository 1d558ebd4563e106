# Debian packages Parley needs, and a function that installs the missing ones.
# Sourced by up.sh and test.sh; the only place the package lists live.

# To build and run parleyd and the development broker.
PARLEY_RUN_PACKAGES=(
    g++ cmake ninja-build pkg-config
    libpaho-mqttpp-dev libpaho-mqtt-dev
    libmysqlcppconn-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev
    liblua5.4-dev libcpp-httplib-dev libicu-dev
    libcli11-dev libncurses-dev
    mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev libjwt-dev libssl-dev
    openssl libsystemd-dev
    libcurl4-openssl-dev libkainjow-mustache-dev
    libmagic-dev libvips-dev
)
# Node and npm, for the TypeScript SDK and the web client (clients/js, clients/web): installed
# from Debian only when the machine has no `node` or `npm` of its own (parley_install_node).
# Debian 12's are Node 18 and npm 9; a NodeSource `nodejs` already holds npm, and Debian's `npm`
# package would conflict with it, so neither is installed over a Node that is there.
PARLEY_NODE_PACKAGES=(nodejs npm)
PARLEY_NODE_MIN_VERSION=18.19
# To build the Debian package (tools/package.sh): CPack's DEB generator runs dpkg-shlibdeps
# (dpkg-dev) to compute Depends, and `file` to find the ELF files it must look at. adduser is what
# the package's postinst runs; systemd has `systemd-analyze verify` for the unit.
PARLEY_PACKAGE_PACKAGES=(
    "${PARLEY_RUN_PACKAGES[@]}"
    dpkg-dev file adduser systemd
)
# Also needed to run the whole test suite: GoogleTest, a MariaDB server the tests start themselves
# (the system's MariaDB service is not used), galera-4 and rsync for the tests' three-node Galera
# cluster (tests/support/database/GaleraCluster.h: the replication library mariadbd loads, and
# what copies a whole node to a joining one, SST; mariadb-server depends on both today, they are
# listed because the tests use them), what builds the package (a test installs it), and
# for the web client's browser tests Chromium (driven by npm's playwright-core), certutil to make
# it trust the test CA, and a font; vips (libvips-tools) makes the attachments tests' images and
# exiftool writes and reads back their EXIF.
PARLEY_TEST_PACKAGES=(
    "${PARLEY_PACKAGE_PACKAGES[@]}"
    libgtest-dev libgmock-dev
    mariadb-server mariadb-client galera-4 rsync
    tmux
    chromium libnss3-tools fonts-dejavu-core
    python3-aiosmtpd
    libvips-tools libimage-exiftool-perl
)
# To build and run the libFuzzer targets (tools/fuzz.sh): clang 14 and its sanitizer runtimes.
PARLEY_FUZZ_PACKAGES=(
    "${PARLEY_RUN_PACKAGES[@]}"
    clang-14 libclang-rt-14-dev
)

# parley_install_packages NAME...: installs those of NAME... that are not installed yet.
parley_install_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        echo "parley: missing packages ${missing[*]}, and this is not a Debian system (no apt-get)" >&2
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    echo "parley: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# parley_install_node: makes sure `node` (at least PARLEY_NODE_MIN_VERSION) and `npm` exist,
# installing Debian's packages when either is missing.
parley_install_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        parley_install_packages "${PARLEY_NODE_PACKAGES[@]}"
    fi
    local version
    version=$(node -p 'process.versions.node')
    if ! printf '%s\n%s\n' "$PARLEY_NODE_MIN_VERSION" "$version" | sort -V -C; then
        echo "parley: Node $version is too old for clients/js and clients/web (at least $PARLEY_NODE_MIN_VERSION)" >&2
        return 1
    fi
}

# parley_npm_ci: installs clients/' npm packages exactly as clients/package-lock.json says, when
# they are not installed yet or the lockfile changed since (npm ci starts from scratch each time).
# One at a time per checkout: tools/up.sh and tools/test.sh started together would otherwise
# delete each other's node_modules half-way (npm ci's ETXTBSY on esbuild).
parley_npm_ci() {
    (
        flock 9
        local stamp=$PARLEY_ROOT/clients/node_modules/.parley-lock-sha256
        local want
        want=$(sha256sum "$PARLEY_ROOT/clients/package-lock.json" | cut -d' ' -f1)
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
            exit 0
        fi
        echo "parley: npm ci in clients/"
        (cd "$PARLEY_ROOT/clients" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    ) 9>"$PARLEY_ROOT/clients/.npm-ci.lock"
}

# parley_build DIR TARGET...: configures DIR (once) and builds the targets, using both cores.
parley_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        cmake -S "$PARLEY_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${PARLEY_CMAKE_ARGS[@]}"
    fi
    if [ $# -gt 0 ]; then
        cmake --build "$dir" --parallel "$(nproc)" --target "$@"
    else
        cmake --build "$dir" --parallel "$(nproc)"
    fi
}
