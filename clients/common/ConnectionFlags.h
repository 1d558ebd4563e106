#pragma once

#include <CLI/CLI.hpp>

#include "Session.h"

namespace parley::client {

// The connection flags every client shares. Each flag may also come from the environment or a
// small config file, in this order of precedence: flag, environment, config file, default.
//   --uri        PARLEY_URI        ssl://127.0.0.1:8883
//   --user       PARLEY_USER
//   --password   PARLEY_PASSWORD
//   --client-id  PARLEY_CLIENT_ID  <user>-<random>
//   --prefix     PARLEY_PREFIX     parley/v1
//   --config     PARLEY_CONFIG     ~/.config/parley/client.conf  (lines `key = "value"`)
//   and the TLS flags below.
void addConnectionFlags(CLI::App& app, ConnectionOptions& options);

// TLS, for ssl://, mqtts:// and wss:// URIs (also used alone by parley-bench):
//   --ca-file    PARLEY_CA_FILE    (the system's CAs)
//   --cert       PARLEY_CERT       client certificate, with --key
//   --key        PARLEY_KEY
void addTlsFlags(CLI::App& app, TlsSettings& tls);

// ~/.config/parley/client.conf (or under $XDG_CONFIG_HOME).
std::string defaultConfigFile();

}  // namespace parley::client
