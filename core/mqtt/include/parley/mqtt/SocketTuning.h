#pragma once

#include <cstddef>
#include <string>

namespace parley {

// Sets TCP_NODELAY on every TCP socket of this process connected to host:port, and returns how
// many it changed. Paho C 1.3.12 never sets it (eclipse-paho/paho.mqtt.c#530) and offers no
// socket hook, so a command's reply waited for the broker's delayed ACK: ~44 ms per hop on
// loopback instead of well under 1 ms. Called after every (re)connect.
size_t enableTcpNoDelayTowards(const std::string& host, int port);

// Host and port of an MQTT server URI such as "tcp://127.0.0.1:1883" or "wss://host:9443/mqtt";
// without a port, Paho's default for the scheme (tcp 1883, ssl and mqtts 8883, ws 80, wss 443).
bool parseBrokerUri(const std::string& uri, std::string& host, int& port);

}  // namespace parley
