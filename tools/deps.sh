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
)
# To build the Debian package (tools/package.sh): CPack's DEB generator runs dpkg-shlibdeps
# (dpkg-dev) to compute Depends, and `file` to find the ELF files it must look at. adduser is what
# the package's postinst runs; systemd has `systemd-analyze verify` for the unit.
PARLEY_PACKAGE_PACKAGES=(
    "${PARLEY_RUN_PACKAGES[@]}"
    dpkg-dev file adduser systemd
)
# Also needed to run the whole test suite: GoogleTest, a MariaDB server the tests start themselves
# (the system's MariaDB service is not used), and what builds the package (a test installs it).
PARLEY_TEST_PACKAGES=(
    "${PARLEY_PACKAGE_PACKAGES[@]}"
    libgtest-dev libgmock-dev
    mariadb-server mariadb-client
    tmux
    python3-aiosmtpd
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
