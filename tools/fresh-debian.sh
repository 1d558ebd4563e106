#!/usr/bin/env bash
# Before a release: runs the two README commands on a machine that has never seen Parley.
# Makes a brand-new Debian 12 root with debootstrap (minbase: less than any real install has),
# clones this repository's committed HEAD into it, and runs `tools/up.sh` then `tools/test.sh`
# inside it (chroot, as root, like CI). Servers listen on loopback only, as everywhere in Parley;
# the root shares this machine's network to reach Debian's mirror. Everything is stopped and
# unmounted at the end, whatever happens; the root is deleted unless --keep.
#
# usage: sudo tools/fresh-debian.sh [--keep] [--dir DIR] [--mirror URL] [--only-up] [-- CTEST_ARGS...]
#   --dir DIR    where to make the root (default: a new folder under /var/tmp)
#   --only-up    run only the first README command (about 4 minutes instead of about 20)
# Exit status: 0 when both commands succeeded; the log of each is in DIR/parley-logs/.
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$PARLEY_ROOT/tools/deps.sh"

keep=0
root=""
mirror=http://deb.debian.org/debian
only_up=0
ctest_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1; shift ;;
        --dir) root=$2; shift 2 ;;
        --mirror) mirror=$2; shift 2 ;;
        --only-up) only_up=1; shift ;;
        --) shift; ctest_args=("$@"); break ;;
        *) echo "fresh-debian: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-debian: debootstrap and chroot need root: run it with sudo" >&2
    exit 2
fi
parley_install_packages debootstrap git

if [ -z "$root" ]; then
    root=$(mktemp -d /var/tmp/parley-fresh-XXXXXX)
fi
mkdir -p "$root"
root=$(cd "$root" && pwd)
logs=$root/parley-logs

mounted=()
cleanup() {
    local status=$?
    # Stop whatever the README commands left running inside the root, then unmount.
    if [ -x "$root/parley/tools/down.sh" ] && mountpoint -q "$root/proc"; then
        chroot "$root" /bin/bash -c 'cd /parley && tools/down.sh --quiet' || true
    fi
    local pid
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -l "${mounted[$i]}" 2>/dev/null || true
    done
    if [ $keep = 0 ]; then
        rm -rf --one-file-system "$root"
    else
        echo "fresh-debian: the root is kept in $root"
    fi
    exit $status
}
trap cleanup EXIT INT TERM

echo "fresh-debian: debootstrap bookworm into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 || {
    cat "$root.debootstrap.log" >&2
    exit 1
}
rm -f "$root.debootstrap.log"
# The same suites a Debian 12 install has, security updates included.
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# Packages installed inside a chroot must not start their services (MariaDB's, Mosquitto's) in
# this machine's namespaces; a real machine would start them, and Parley's commands never use them.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# What Debian's installer writes and debootstrap does not: without it `localhost` and the host
# name resolve to nothing, mariadb-install-db refuses to run and mosquitto_sub cannot connect to
# its default host. Every real Debian 12 machine has this file.
cat > "$root/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$(hostname)
::1	localhost ip6-localhost ip6-loopback
EOF
# The root reaches the network through this machine's, so through any TLS-inspecting proxy whose
# CA this machine's administrator added (/usr/local/share/ca-certificates): a new machine on the
# same network would be given those CAs too. Parley needs none of them. ca-certificates, which
# tools/up.sh installs, adds them to the root's store; Node.js reads that store only when told.
extra_env=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    extra_env=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
fi

mount_into() {
    mkdir -p "$root/$2"
    mount "${@:3}" "$1" "$root/$2"
    mounted+=("$root/$2")
}
mount_into proc proc -t proc
mount_into sysfs sys -t sysfs
# debootstrap made the device nodes; the root gets its own pseudo-terminals (the terminal
# client's tests run under tmux), never this machine's.
mount_into devpts dev/pts -t devpts -o newinstance,ptmxmode=0666
ln -sf pts/ptmx "$root/dev/ptmx"
mount_into tmpfs dev/shm -t tmpfs
mount_into tmpfs tmp -t tmpfs

# The committed HEAD, as a clone gets it: nothing uncommitted, nothing ignored, no build tree.
git clone --quiet --no-local "$PARLEY_ROOT" "$root/parley"
mkdir -p "$logs"

run_in_root() {
    local name=$1
    shift
    echo "fresh-debian: $name (log: $logs/$name.log)"
    local start=$SECONDS
    if chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${extra_env[@]}" \
        /bin/bash -c 'cd /parley && "$@"' run "$@" > "$logs/$name.log" 2>&1; then
        echo "fresh-debian: $name succeeded in $((SECONDS - start)) s"
    else
        echo "fresh-debian: $name FAILED after $((SECONDS - start)) s; the end of its log:" >&2
        tail -40 "$logs/$name.log" >&2
        return 1
    fi
}
run_in_root up tools/up.sh
if [ $only_up = 0 ]; then
    chroot "$root" /bin/bash -c 'cd /parley && tools/down.sh --quiet' || true
    run_in_root test tools/test.sh "${ctest_args[@]}"
fi
if [ $keep = 1 ]; then
    mkdir -p "$PARLEY_ROOT/var"
    cp -r "$logs" "$PARLEY_ROOT/var/fresh-debian-logs"
fi
echo "fresh-debian: the README commands work on a fresh Debian 12 root"
