#pragma once

#include <string>
#include <vector>

#include "config/Config.h"

namespace parley {

// What `parleyd --check-config` finds wrong with a configuration the loader accepted: everything
// the start would trip on, short of connecting to the broker or the database. The secret files
// and the TLS files are read; the SQLite folder and file are looked at (not opened); the broker's
// URI is parsed as the MQTT client parses it; the HTTP address is resolved; each script is read and
// compiled in a Lua state with its memory budget (not run); each plugin is opened, its entry points
// resolved and its ABI version negotiated (init is not called: it registers with a running server).
struct StartupCheck {
    std::vector<std::string> problems;  // each names the key or extension and the file
    std::vector<std::string> notes;     // what the check could not know, for the operator
};

StartupCheck checkStartup(const Config& config);

}  // namespace parley
