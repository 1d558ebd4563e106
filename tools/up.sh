#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds parleyd, and starts a local Mosquitto with
# Parley's development config and parleyd on its embedded default (SQLite in var/data).
# Both run in the background; tools/down.sh stops them. Logs: var/dev/*.log.
#
# Environment: PARLEY_MQTT_PORT (default 1883, or the next free port if taken),
#              PARLEY_WS_PORT (MQTT over WebSockets, default 9001, same rule).
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_BUILD_TESTS=OFF)

parley_install_packages "${PARLEY_RUN_PACKAGES[@]}"
parley_build build parleyd parley_jwt_auth parley-token parley parleyctl parley-bench

tools/down.sh --quiet

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port_from() {
    local port=$1
    while ! port_is_free "$port"; do port=$((port + 1)); done
    echo "$port"
}
MQTT_PORT=${PARLEY_MQTT_PORT:-$(free_port_from 1883)}
WS_PORT=${PARLEY_WS_PORT:-$(free_port_from 9001)}
[ "$WS_PORT" = "$MQTT_PORT" ] && WS_PORT=$(free_port_from $((MQTT_PORT + 1)))

mkdir -p var/dev var/data
chmod 755 var var/dev
# The parleyd service account and two demo users (password = name), created once.
if [ ! -s var/dev/parleyd.secret ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=' > var/dev/parleyd.secret
    chmod 600 var/dev/parleyd.secret
fi
if [ ! -s var/dev/passwd ]; then
    printf 'parleyd:%s\nalice:alice\nbob:bob\n' "$(cat var/dev/parleyd.secret)" > var/dev/passwd
    mosquitto_passwd -U var/dev/passwd
fi
# The development admin, for parleyctl (password = name); also added to older var/dev setups.
grep -q '^admin:' var/dev/passwd || mosquitto_passwd -b var/dev/passwd admin admin
# The development JWT secret (docs/authentication.md), made here so none is ever committed.
mkdir -p var/dev/jwt-keys
if [ ! -s var/dev/jwt.secret ]; then
    head -c 32 /dev/urandom | base64 > var/dev/jwt.secret
fi
chmod 644 var/dev/jwt.secret
# Mosquitto drops root privileges to user "mosquitto", which must still read these.
chmod 644 var/dev/passwd

# The shipped configs, with the ports chosen above. In development `admin` is an admin and the
# shipped moderation and listing scripts run, their rate limits off (they would throttle
# parley-bench).
sed -e "s/^listener 1883 /listener $MQTT_PORT /" -e "s/^listener 9001 /listener $WS_PORT /" \
    config/mosquitto/dev.conf > var/dev/mosquitto.conf
sed -e "s|uri: tcp://127.0.0.1:1883|uri: tcp://127.0.0.1:$MQTT_PORT|" \
    -e "s|^admins: \[\]\$|admins: [admin]|" \
    -e "s|^extensions: \[\]\$|extensions: [{name: moderation, script: scripts/moderation.lua, options: {messages_per_minute: 0, conversations_per_hour: 0}}, {name: listings, script: scripts/listings.lua}]|" \
    config/parleyd.yaml > var/dev/parleyd.yaml

mosquitto -c var/dev/mosquitto.conf > var/dev/mosquitto.log 2>&1 &
echo $! > var/dev/mosquitto.pid
for _ in $(seq 50); do port_is_free "$MQTT_PORT" || break; sleep 0.1; done
if port_is_free "$MQTT_PORT"; then
    echo "parley: mosquitto did not start; var/dev/mosquitto.log says:" >&2
    cat var/dev/mosquitto.log >&2
    exit 1
fi

build/core/parleyd --config var/dev/parleyd.yaml > var/dev/parleyd.log 2>&1 &
echo $! > var/dev/parleyd.pid
for _ in $(seq 100); do grep -q "parleyd ready" var/dev/parleyd.log && break; sleep 0.1; done
if ! grep -q "parleyd ready" var/dev/parleyd.log; then
    echo "parley: parleyd did not become ready; var/dev/parleyd.log says:" >&2
    cat var/dev/parleyd.log >&2
    exit 1
fi

cat <<TXT

Parley is running.
  broker    mqtt://127.0.0.1:$MQTT_PORT   (WebSockets: ws://127.0.0.1:$WS_PORT)
  parleyd   SQLite database var/data/parley.db, logs var/dev/parleyd.log
  users     alice / alice   and   bob / bob      (add more: config/mosquitto/add-user.sh NAME PASSWORD)
            any other uid with a token: -u carol -P "\$(build/clients/token/parley-token carol)" -i carol-term
            (docs/authentication.md)
  admin     admin / admin, for parleyctl (docs/clients.md); moderation and listings scripts loaded

Chat with the terminal client (docs/clients.md), one per terminal:
  build/clients/parley/parley --uri tcp://127.0.0.1:$MQTT_PORT --user alice --password alice
  build/clients/parley/parley --uri tcp://127.0.0.1:$MQTT_PORT --user bob --password bob
  (then type /open bob in alice's; scripts: parley send --to bob "Hello", parley watch, ...)

Or with the broker's own tools (protocol: docs/protocol.md):
  # bob listens to everything addressed to him
  mosquitto_sub -p $MQTT_PORT -V mqttv5 -u bob -P bob -i bob-term -t 'parley/v1/u/bob/#' -v

  # alice listens to her replies, opens a conversation with bob and sends to it
  mosquitto_sub -p $MQTT_PORT -V mqttv5 -u alice -P alice -i alice-term -t 'parley/v1/u/alice/#' -v &
  mosquitto_pub -p $MQTT_PORT -V mqttv5 -u alice -P alice -i alice-cmd -q 1 -t parley/v1/c2s/alice \\
    -m '{"op":"conv.open","id":"1","peer":"bob"}'
  mosquitto_pub -p $MQTT_PORT -V mqttv5 -u alice -P alice -i alice-cmd -q 1 -t parley/v1/c2s/alice \\
    -m '{"op":"msg.send","id":"2","conv":"<conv from the reply>","cmid":"m1","body":"Hello Bob"}'

Stop both: tools/down.sh
TXT
