#pragma once

#include <CLI/CLI.hpp>

#include "Session.h"

namespace parley::client {

// The connection flags every client shares. Each flag may also come from the environment or a
// small config file, in this order of precedence: flag, environment, config file, default.
//   --uri        PARLEY_URI        tcp://127.0.0.1:1883
//   --user       PARLEY_USER
//   --password   PARLEY_PASSWORD
//   --client-id  PARLEY_CLIENT_ID  <user>-<random>
//   --prefix     PARLEY_PREFIX     parley/v1
//   --config     PARLEY_CONFIG     ~/.config/parley/client.conf  (lines `key = "value"`)
void addConnectionFlags(CLI::App& app, ConnectionOptions& options);

// ~/.config/parley/client.conf (or under $XDG_CONFIG_HOME).
std::string defaultConfigFile();

}  // namespace parley::client
