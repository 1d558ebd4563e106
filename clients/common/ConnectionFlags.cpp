#include "ConnectionFlags.h"

#include <cstdlib>

namespace parley::client {

std::string defaultConfigFile() {
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/parley/client.conf";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return std::string(home) + "/.config/parley/client.conf";
    }
    return "";
}

void addConnectionFlags(CLI::App& app, ConnectionOptions& options) {
    app.set_config("--config", defaultConfigFile(),
                   "config file with lines like  user = \"alice\"  (keys: uri, user, password, "
                   "client-id, prefix)")
        ->envname("PARLEY_CONFIG");
    app.add_option("--uri", options.uri, "MQTT server")
        ->envname("PARLEY_URI")
        ->capture_default_str();
    app.add_option("--user", options.user, "your user id (the broker user name)")
        ->envname("PARLEY_USER");
    app.add_option("--password", options.password, "the broker password (or a JWT)")
        ->envname("PARLEY_PASSWORD");
    app.add_option("--client-id", options.clientId, "MQTT client id (default <user>-<random>)")
        ->envname("PARLEY_CLIENT_ID");
    app.add_option("--prefix", options.prefix, "topic prefix")
        ->envname("PARLEY_PREFIX")
        ->capture_default_str();
}

}  // namespace parley::client
