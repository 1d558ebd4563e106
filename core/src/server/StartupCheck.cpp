#include "server/StartupCheck.h"

#include <netdb.h>
#include <sys/socket.h>

#include <mqtt/async_client.h>

#include <memory>

#include "config/ConfigLoader.h"
#include "config/SecretFile.h"
#include "extensions/Extension.h"
#include "lua/LuaExtension.h"
#include "parley/mqtt/PahoLibrary.h"
#include "parley/mqtt/TlsSettings.h"
#include "plugins/PluginExtension.h"
#include "store/SqliteStore.h"
#include "transport/MosquittoTransport.h"

namespace parley {

namespace {

void checkSecret(const std::string& path, const std::string& key, StartupCheck& check) {
    if (path.empty()) {
        return;
    }
    try {
        readSecretFile(path, key);
    } catch (const ConfigError& error) {
        check.problems.emplace_back(error.what());
    }
}

void checkBrokerUri(const BrokerConfig& broker, StartupCheck& check) {
    // The client the start creates parses the URI (scheme, host, port) without connecting.
    for (const auto& uri : broker.uris()) {
        try {
            if (broker.client == BrokerConfig::Client::Mosquitto) {
                MosquittoTransport::checkUri(uri);
            } else {
                newPahoClient(uri, broker.clientId, mqtt::create_options(MQTTVERSION_5));
            }
        } catch (const std::exception& error) {
            check.problems.push_back(
                std::string(broker.shards.empty() ? "broker.uri" : "broker.shards") + ": " + uri +
                ": " + error.what());
        }
    }
}

// The TLS files are read and parsed as the start reads them (a missing file, not PEM, a key that
// does not match its certificate).
void checkTls(const std::string& key, const TlsSettings& tls, StartupCheck& check) {
    try {
        checkTlsFiles(tls);
    } catch (const std::invalid_argument& error) {
        check.problems.push_back(key + ": " + error.what());
    }
}

void checkHttpListen(const HttpConfig& http, StartupCheck& check) {
    if (!http.enabled()) {
        return;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const int status =
        ::getaddrinfo(http.listen.c_str(), std::to_string(http.port).c_str(), &hints, &found);
    if (status != 0) {
        check.problems.push_back("http.listen: cannot listen on " + http.listen + ": " +
                                 ::gai_strerror(status));
        return;
    }
    ::freeaddrinfo(found);
}

void checkExtensions(const Config& config, StartupCheck& check) {
    for (const auto& extension : config.extensions) {
        const std::string name = "extension '" + extension.name + "': ";
        try {
            if (extension.pluginPath.empty()) {
                checkScript(extension, config.lua);
            } else {
                checkPlugin(extension);
                check.notes.push_back(name + extension.pluginPath +
                                      " loads and speaks a supported ABI version; its "
                                      "parley_plugin_init is not called by the check (it "
                                      "registers with the running server), so a failing init "
                                      "still stops the start");
            }
        } catch (const ExtensionError& error) {
            check.problems.push_back(name + error.what());
        }
    }
}

}  // namespace

StartupCheck checkStartup(const Config& config) {
    StartupCheck check;
    checkSecret(config.broker.passwordFile, "broker.password_file", check);
    checkBrokerUri(config.broker, check);
    checkTls("broker.tls", config.broker.tls, check);
    if (config.store.backend == "mysql") {
        checkSecret(config.store.mysql.passwordFile, "store.mysql.password_file", check);
        if (config.store.mysql.tls.enabled()) {
            checkTls("store.mysql.tls", config.store.mysql.tls.files, check);
        }
    } else if (auto problem = store::sqlitePathProblem(config.store.sqlite); !problem.empty()) {
        check.problems.push_back("store.sqlite.path: " + problem);
    }
    checkHttpListen(config.http, check);
    checkExtensions(config, check);
    return check;
}

}  // namespace parley
