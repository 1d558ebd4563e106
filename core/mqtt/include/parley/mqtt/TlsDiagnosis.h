#pragma once

#include <chrono>
#include <string>

#include "parley/mqtt/TlsSettings.h"

namespace parley {

// Why a TLS connection to the broker at `uri` fails, in words an operator can act on: "TLS with
// 127.0.0.1:8883: the broker's certificate expired on 2020-02-01 00:00:00 UTC (certificate has
// expired)". Paho C 1.3.12 reports every TLS failure as "TCP/TLS connect failure" and checks the
// host name after the handshake without saying so, so when a connect fails this makes a
// handshake of its own with OpenSSL, with the same files and checks, and reads the reason there.
// Empty if it finds no TLS problem (the handshake works: the failure was elsewhere). Makes one
// TCP connection to the broker, given up after `timeout`.
std::string explainTlsFailure(const std::string& uri, const TlsSettings& tls,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace parley
