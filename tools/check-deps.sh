#!/usr/bin/env bash
# Checks that every system header a build included comes from a Debian package that tools/deps.sh
# installs (one it lists, or one those depend on). A header that only this machine happens to have
# (a package installed by hand or by earlier work) fails the check, naming the header and its
# package: on a fresh Debian 12 machine that build would stop at "No such file or directory".
#
# usage: tools/check-deps.sh BUILD_DIR [--packages LIST] [--without PACKAGE]...
#   BUILD_DIR  a built Ninja tree (its .ninja_deps lists every header each object included)
#   --packages the deps.sh list the build is allowed (default PARLEY_TEST_PACKAGES: the suite's build)
#   --without  pretend deps.sh did not list PACKAGE (the suite uses it to see the check fail)
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$PARLEY_ROOT/tools/deps.sh"

build_dir=${1:?usage: tools/check-deps.sh BUILD_DIR [--packages LIST] [--without PACKAGE]...}
shift
list_name=PARLEY_TEST_PACKAGES
without=()
while [ $# -gt 0 ]; do
    case $1 in
        --packages) list_name=$2; shift 2 ;;
        --without) without+=("$2"); shift 2 ;;
        *) echo "check-deps: unknown argument $1" >&2; exit 2 ;;
    esac
done
declare -n listed="$list_name"
build_dir=$(cd "$build_dir" && pwd)
[ -f "$build_dir/.ninja_deps" ] || { echo "check-deps: $build_dir is not a built Ninja tree" >&2; exit 2; }

# Every file any object depended on, outside the source and build trees: the system headers.
mapfile -t headers < <(ninja -C "$build_dir" -t deps 2>/dev/null |
    awk '/^    /{print $1}' | sort -u |
    while read -r path; do
        case $path in /*) ;; *) path="$build_dir/$path" ;; esac
        case $path in "$PARLEY_ROOT"/* | "$build_dir"/*) continue ;; esac
        echo "$path"
    done | sort -u)
[ ${#headers[@]} -gt 0 ] || { echo "check-deps: no system header found in $build_dir's deps" >&2; exit 2; }

# Allowed: the packages deps.sh lists (minus --without) and everything they depend on. Essential
# packages (libc's runtime, dpkg, ...) are on every Debian system and need not be listed.
allowed_roots=()
for package in "${listed[@]}"; do
    skip=0
    for gone in "${without[@]}"; do [ "$package" = "$gone" ] && skip=1; done
    [ $skip = 1 ] || allowed_roots+=("$package")
done
declare -A allowed=()
while read -r package; do
    allowed[${package%%:*}]=1
done < <(
    apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${allowed_roots[@]}" 2>/dev/null |
        grep -v '^ ' | tr -d '<>'
    dpkg-query -W -f='${Package} ${Essential}\n' | awk '$2 == "yes" {print $1}'
)

# Which package holds each header: one dpkg-query for all of them (it reads its database once).
# dpkg knows a file by the path its package ships, so a header found only through a symlink
# (/usr/include/... -> /usr/lib/...) is asked again by its real path.
declare -A owner_of=()
owners_of() {
    dpkg-query -S "$@" 2>/dev/null | while IFS= read -r line; do
        printf '%s\t%s\n' "${line#*: }" "${line%%: *}"
    done || true
}
while IFS=$'\t' read -r path package; do
    package=${package%%,*}
    owner_of[$path]=${package%%:*}
done < <(owners_of "${headers[@]}")
declare -A real_of=()
for header in "${headers[@]}"; do
    [ -n "${owner_of[$header]:-}" ] || real_of[$(readlink -f "$header")]=$header
done
if [ ${#real_of[@]} -gt 0 ]; then
    while IFS=$'\t' read -r path package; do
        package=${package%%,*}
        [ -n "${real_of[$path]:-}" ] && owner_of[${real_of[$path]}]=${package%%:*}
    done < <(owners_of "${!real_of[@]}")
fi
unowned=()
for header in "${headers[@]}"; do
    [ -n "${owner_of[$header]:-}" ] || unowned+=("$header")
done

status=0
declare -A reported=()
for header in "${headers[@]}"; do
    [ -n "${owner_of[$header]:-}" ] || continue
    package=${owner_of[$header]}
    if [ -z "${allowed[$package]:-}" ] && [ -z "${reported[$package]:-}" ]; then
        reported[$package]=1
        echo "check-deps: $header comes from package $package, which tools/deps.sh ($list_name) does not install" >&2
        status=1
    fi
done
for header in "${unowned[@]}"; do
    echo "check-deps: $header belongs to no Debian package (installed by hand?)" >&2
    status=1
done
if [ $status = 0 ]; then
    echo "check-deps: ${#headers[@]} system headers, all from packages tools/deps.sh installs ($list_name)"
fi
exit $status
