#!/usr/bin/env bash
# Adds (or changes the password of) a user of the development broker and makes it reload.
# usage: config/mosquitto/add-user.sh NAME PASSWORD      (run from the repository root)
# `parleyctl broker add-user NAME PASSWORD` does the same (docs/clients.md): keep the two alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -ne 2 ]; then
    echo "usage: $0 NAME PASSWORD" >&2
    exit 2
fi
name=$1
if ! [[ "$name" =~ ^[A-Za-z0-9._@-]{1,64}$ ]]; then
    echo "$0: a user id is 1-64 characters from A-Z a-z 0-9 . _ @ -" >&2
    exit 2
fi
[ -f var/dev/passwd ] || { echo "$0: no var/dev/passwd: run tools/up.sh first" >&2; exit 1; }
mosquitto_passwd -b var/dev/passwd "$name" "$2"
chmod 644 var/dev/passwd
if [ -f var/dev/mosquitto.pid ] && kill -0 "$(cat var/dev/mosquitto.pid)" 2>/dev/null; then
    kill -HUP "$(cat var/dev/mosquitto.pid)"  # reloads the password file
fi
echo "user $name can now log in"
