#!/usr/bin/env bash
# Stops the web client's server, parleyd and Mosquitto that tools/up.sh started (parleyd before
# the broker, so it finishes the commands it took while the broker is still there).
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=${1:-}
for name in web parleyd mosquitto; do
    pidfile=var/dev/$name.pid
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        [ "$quiet" = "--quiet" ] || echo "stopped $name ($pid)"
    fi
    rm -f "$pidfile"
done
