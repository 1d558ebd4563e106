#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds parleyd, and starts a local Mosquitto with
# Parley's development config and parleyd on its embedded default (SQLite in var/data).
# Both run in the background; tools/down.sh stops them. Logs: var/dev/*.log.
#
# TLS is on in development as in production: the first run makes a development CA and a
# certificate for 127.0.0.1 and localhost with openssl (var/dev/tls/), the broker listens only
# over TLS, parleyd connects over TLS, and the commands printed at the end trust that CA.
#
# The web client (clients/web) is built with its npm packages from clients/package-lock.json
# (npm ci, Node and npm from the machine or Debian's packages) and served over HTTPS by
# clients/web/serve.mjs with a certificate from the same development CA, so that the page and
# the broker's wss:// listener are trusted together (docs/clients.md, "The web client").
#
# Environment: PARLEY_MQTT_PORT (MQTT over TLS, default 8883, or the next free port if taken),
#              PARLEY_WS_PORT (MQTT over WebSockets over TLS, default 9443, same rule),
#              PARLEY_WEB_PORT (the web client over HTTPS, default 8443, same rule),
#              PARLEY_HTTP_PORT (parleyd's HTTP listener on loopback: attachment links, /metrics;
#              default 9464, same rule).
set -euo pipefail
PARLEY_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$PARLEY_ROOT"
source tools/deps.sh
PARLEY_CMAKE_ARGS=(-DPARLEY_BUILD_TESTS=OFF)

parley_install_packages "${PARLEY_RUN_PACKAGES[@]}"
parley_build build parleyd parley_jwt_auth parley-token parley parleyctl parley-bench parley_echo \
    parley_attachments
# The SDK and the web client (clients/dist is Vite's output, clients/web/dist).
parley_install_node
parley_npm_ci
(cd clients && npm run --silent build >/dev/null)

tools/down.sh --quiet

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port_from() {
    local port=$1
    while ! port_is_free "$port"; do port=$((port + 1)); done
    echo "$port"
}
MQTT_PORT=${PARLEY_MQTT_PORT:-$(free_port_from 8883)}
WS_PORT=${PARLEY_WS_PORT:-$(free_port_from 9443)}
[ "$WS_PORT" = "$MQTT_PORT" ] && WS_PORT=$(free_port_from $((MQTT_PORT + 1)))
WEB_PORT=${PARLEY_WEB_PORT:-$(free_port_from 8443)}
while [ "$WEB_PORT" = "$MQTT_PORT" ] || [ "$WEB_PORT" = "$WS_PORT" ]; do
    WEB_PORT=$(free_port_from $((WEB_PORT + 1)))
done
HTTP_PORT=${PARLEY_HTTP_PORT:-$(free_port_from 9464)}
while [ "$HTTP_PORT" = "$MQTT_PORT" ] || [ "$HTTP_PORT" = "$WS_PORT" ] || [ "$HTTP_PORT" = "$WEB_PORT" ]; do
    HTTP_PORT=$(free_port_from $((HTTP_PORT + 1)))
done

mkdir -p var/dev var/data var/data/attachments
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

# The development CA and the broker's certificate (docs/operations.md, "TLS"). The CA is made
# once and kept, so that whatever trusts it keeps working; the certificate is issued again when it
# is missing or has less than a week left. Both are for this machine only: never use them
# elsewhere, never commit them (var/ is not tracked).
mkdir -p var/dev/tls
chmod 755 var/dev/tls
if [ ! -s var/dev/tls/ca.key ] || [ ! -s var/dev/tls/ca.crt ]; then
    rm -f var/dev/tls/server.crt
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
        -subj "/CN=Parley development CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout var/dev/tls/ca.key -out var/dev/tls/ca.crt 2>/dev/null
    chmod 600 var/dev/tls/ca.key
fi
if [ ! -s var/dev/tls/server.crt ] || ! openssl x509 -checkend 604800 -noout -in var/dev/tls/server.crt >/dev/null; then
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout var/dev/tls/server.key -out var/dev/tls/server.csr 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" > var/dev/tls/server.ext
    openssl x509 -req -sha256 -days 825 -in var/dev/tls/server.csr -CA var/dev/tls/ca.crt \
        -CAkey var/dev/tls/ca.key -CAcreateserial -extfile var/dev/tls/server.ext \
        -out var/dev/tls/server.crt 2>/dev/null
    rm -f var/dev/tls/server.csr var/dev/tls/server.ext
fi
chmod 644 var/dev/tls/ca.crt var/dev/tls/server.crt
chmod 600 var/dev/tls/server.key
# Mosquitto reads the key after dropping root's privileges to user "mosquitto" (2.0.11).
if [ "$(id -u)" -eq 0 ]; then
    chown mosquitto var/dev/tls/server.key
fi

# The shipped configs, with the ports chosen above. In development `admin` is an admin, the
# shipped moderation and listing scripts run, their rate limits off (they would throttle
# parley-bench), and the attachments plugin keeps files in var/data/attachments; its signed
# download links point at the web client's server, which forwards them to parleyd's HTTP listener
# (docs/attachments.md). That listener also answers /metrics, on loopback only.
ATTACHMENTS="{name: attachments, plugin: build/plugins/parley_attachments.so, options: {folder: $PARLEY_ROOT/var/data/attachments, public_base_url: \"https://127.0.0.1:$WEB_PORT\"}}"
sed -e "s/^listener 8883 /listener $MQTT_PORT /" -e "s/^listener 9443 /listener $WS_PORT /" \
    config/mosquitto/dev.conf > var/dev/mosquitto.conf
sed -e "s|uri: ssl://127.0.0.1:8883|uri: ssl://127.0.0.1:$MQTT_PORT|" \
    -e "s|^admins: \[\]\$|admins: [admin]|" \
    -e "s|^  # port: 9464\$|  port: $HTTP_PORT|" \
    -e "s|^hooks: {}\$|hooks: {command: {budget: 10s}}|" \
    -e "s|^extensions: \[\]\$|extensions: [{name: moderation, script: scripts/moderation.lua, options: {messages_per_minute: 0, conversations_per_hour: 0}}, {name: listings, script: scripts/listings.lua}, $ATTACHMENTS]|" \
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

# The web client, over HTTPS with the broker's certificate (same CA, names 127.0.0.1 and
# localhost); config.json tells the page where the broker's wss:// listener is.
printf '{"broker": "wss://127.0.0.1:%s"}\n' "$WS_PORT" > var/dev/web-config.json
node clients/web/serve.mjs --root clients/web/dist --port "$WEB_PORT" \
    --cert var/dev/tls/server.crt --key var/dev/tls/server.key --config var/dev/web-config.json \
    --attachments "http://127.0.0.1:$HTTP_PORT" > var/dev/web.log 2>&1 &
echo $! > var/dev/web.pid
for _ in $(seq 50); do grep -q "^serving" var/dev/web.log && break; sleep 0.1; done
if ! grep -q "^serving" var/dev/web.log; then
    echo "parley: the web client's server did not start; var/dev/web.log says:" >&2
    cat var/dev/web.log >&2
    exit 1
fi

cat <<TXT

Parley is running, over TLS.
  web       https://127.0.0.1:$WEB_PORT/   sign in as alice / alice, and as bob / bob in another tab
            (your browser must trust the development CA first, see TLS below; docs/clients.md)
  broker    ssl://127.0.0.1:$MQTT_PORT   (WebSockets over TLS: wss://127.0.0.1:$WS_PORT)
  TLS       the development CA is var/dev/tls/ca.crt: clients trust it with --cafile (mosquitto_sub,
            mosquitto_pub) or --ca-file (parley, parleyctl, parley-bench); a browser or the whole
            system only if you add it (docs/operations.md, "TLS"), e.g. on Debian:
              sudo cp var/dev/tls/ca.crt /usr/local/share/ca-certificates/parley-dev.crt
              sudo update-ca-certificates
            Chromium and Firefox keep their own lists: Chromium, as the user who runs it (libnss3-tools):
              certutil -d sql:\$HOME/.pki/nssdb -A -t C,, -n "Parley development CA" -i var/dev/tls/ca.crt
            Firefox: Settings, Certificates, View Certificates, Authorities, Import var/dev/tls/ca.crt
  parleyd   SQLite database var/data/parley.db, logs var/dev/parleyd.log, attached files
            var/data/attachments (docs/attachments.md), metrics http://127.0.0.1:$HTTP_PORT/metrics
  users     alice / alice   and   bob / bob      (add more: config/mosquitto/add-user.sh NAME PASSWORD)
            any other uid with a token: -u carol -P "\$(build/clients/token/parley-token carol)" -i carol-term
            (docs/authentication.md)
  admin     admin / admin, for parleyctl (docs/clients.md); moderation and listings scripts loaded

Chat with the terminal client (docs/clients.md), one per terminal:
  build/clients/parley/parley --uri ssl://127.0.0.1:$MQTT_PORT --ca-file var/dev/tls/ca.crt --user alice --password alice
  build/clients/parley/parley --uri ssl://127.0.0.1:$MQTT_PORT --ca-file var/dev/tls/ca.crt --user bob --password bob
  (then type /open bob in alice's; scripts: parley send --to bob "Hello", parley watch, ...)

Or with the broker's own tools (protocol: docs/protocol.md):
  # bob listens to everything addressed to him
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT --cafile var/dev/tls/ca.crt -V mqttv5 -u bob -P bob -i bob-term -t 'parley/v1/u/bob/#' -v

  # alice listens to her replies, opens a conversation with bob and sends to it
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT --cafile var/dev/tls/ca.crt -V mqttv5 -u alice -P alice -i alice-term -t 'parley/v1/u/alice/#' -v &
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT --cafile var/dev/tls/ca.crt -V mqttv5 -u alice -P alice -i alice-cmd -q 1 \\
    -t parley/v1/c2s/alice -m '{"op":"conv.open","id":"1","peer":"bob"}'
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT --cafile var/dev/tls/ca.crt -V mqttv5 -u alice -P alice -i alice-cmd -q 1 \\
    -t parley/v1/c2s/alice -m '{"op":"msg.send","id":"2","conv":"<conv from the reply>","cmid":"m1","body":"Hello Bob"}'

Stop all three: tools/down.sh
TXT
