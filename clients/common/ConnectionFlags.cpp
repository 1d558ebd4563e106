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
                   "client-id, prefix, ca-file, cert, key)")
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
    addTlsFlags(app, options.tls);
}

void addTlsFlags(CLI::App& app, TlsSettings& tls) {
    app.add_option("--ca-file", tls.caFile,
                   "TLS (ssl://, wss:// uri): PEM file of the CAs that may sign the broker's "
                   "certificate (default: the system's)")
        ->envname("PARLEY_CA_FILE");
    app.add_option("--cert", tls.certFile,
                   "TLS: client certificate (PEM), for a broker that asks for one; with --key")
        ->envname("PARLEY_CERT");
    app.add_option("--key", tls.keyFile, "TLS: the client certificate's private key (PEM)")
        ->envname("PARLEY_KEY");
}

}  // namespace parley::client
