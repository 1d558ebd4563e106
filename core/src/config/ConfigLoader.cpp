#include "config/ConfigLoader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <set>

#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include "hooks/Hook.h"
#include "protocol/Decoder.h"

namespace parley {

int64_t parseDurationMs(const std::string& text) {
    int64_t amount = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [rest, error] = std::from_chars(begin, end, amount);
    if (error != std::errc() || rest == begin || amount < 0) {
        throw std::invalid_argument("expected a duration such as 250ms, 30s, 5m or 2h");
    }
    const std::string unit(rest, end);
    static const std::map<std::string, int64_t> kUnits = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    auto found = kUnits.find(unit);
    if (found == kUnits.end()) {
        throw std::invalid_argument(
            "expected a duration such as 250ms, 30s, 5m or 2h (unit ms, s, m or h)");
    }
    if (amount > std::numeric_limits<int64_t>::max() / found->second) {
        throw std::invalid_argument("duration is too long");
    }
    return amount * found->second;
}

int64_t parseSizeBytes(const std::string& text) {
    int64_t amount = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [rest, error] = std::from_chars(begin, end, amount);
    if (error != std::errc() || rest == begin || amount < 0) {
        throw std::invalid_argument("expected a size such as 512KB, 32MB or 1GB");
    }
    static const std::map<std::string, int64_t> kUnits = {
        {"B", 1}, {"KB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
    auto found = kUnits.find(std::string(rest, end));
    if (found == kUnits.end()) {
        throw std::invalid_argument(
            "expected a size such as 512KB, 32MB or 1GB (unit B, KB, MB or GB)");
    }
    if (amount > std::numeric_limits<int64_t>::max() / found->second) {
        throw std::invalid_argument("size is too large");
    }
    return amount * found->second;
}

namespace {

// Options of extensions, as JSON: plain scalars become booleans or numbers when they read as one;
// quoted scalars stay strings.
nlohmann::json yamlToJson(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: {
            nlohmann::json object = nlohmann::json::object();
            for (const auto& entry : node) {
                object[entry.first.as<std::string>()] = yamlToJson(entry.second);
            }
            return object;
        }
        case YAML::NodeType::Sequence: {
            nlohmann::json array = nlohmann::json::array();
            for (const auto& item : node) {
                array.push_back(yamlToJson(item));
            }
            return array;
        }
        case YAML::NodeType::Scalar: {
            const std::string& text = node.Scalar();
            if (node.Tag() == "!") {
                return text;
            }
            if (text == "true" || text == "false") {
                return text == "true";
            }
            int64_t integer = 0;
            auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), integer);
            if (error == std::errc() && end == text.data() + text.size()) {
                return integer;
            }
            double real = 0;
            auto [realEnd, realError] =
                std::from_chars(text.data(), text.data() + text.size(), real);
            if (realError == std::errc() && realEnd == text.data() + text.size()) {
                return real;
            }
            return text;
        }
        default:
            return nullptr;
    }
}

// Walks one YAML mapping against a table of known keys; every error names file, line and key path.
class Reader {
  public:
    using KeyReader = std::function<void(const YAML::Node&, const std::string& keyPath)>;

    explicit Reader(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const YAML::Node& node, const std::string& keyPath,
                           const std::string& reason) const {
        std::ostringstream out;
        out << source_;
        if (node.Mark().line >= 0) {
            out << ':' << node.Mark().line + 1;
        }
        out << ": " << (keyPath.empty() ? "(top level)" : keyPath) << ": " << reason;
        throw ConfigError(out.str());
    }

    void mapping(const YAML::Node& node, const std::string& path,
                 const std::map<std::string, KeyReader>& keys) const {
        if (node.IsNull()) {
            return;  // an empty section keeps every default
        }
        if (!node.IsMap()) {
            fail(node, path, "expected a mapping of keys");
        }
        for (const auto& entry : node) {
            const std::string key = entry.first.as<std::string>();
            const std::string keyPath = path.empty() ? key : path + "." + key;
            auto found = keys.find(key);
            if (found == keys.end()) {
                std::string known;
                for (const auto& [name, unused] : keys) {
                    known += known.empty() ? name : ", " + name;
                }
                fail(entry.first, keyPath, "unknown key (known keys here: " + known + ")");
            }
            found->second(entry.second, keyPath);
        }
    }

    std::string string(const YAML::Node& node, const std::string& keyPath) const {
        if (!node.IsScalar()) {
            fail(node, keyPath, "expected a string");
        }
        return node.Scalar();
    }

    int64_t integer(const YAML::Node& node, const std::string& keyPath, int64_t min,
                    int64_t max) const {
        if (!node.IsScalar()) {
            fail(node, keyPath, "expected an integer");
        }
        const std::string& text = node.Scalar();
        int64_t value = 0;
        auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || rest != text.data() + text.size()) {
            fail(node, keyPath, "expected an integer, got '" + text + "'");
        }
        if (value < min || value > max) {
            fail(node, keyPath,
                 "must be between " + std::to_string(min) + " and " + std::to_string(max));
        }
        return value;
    }

    double number(const YAML::Node& node, const std::string& keyPath, double min,
                  double max) const {
        double value = 0;
        try {
            if (!node.IsScalar()) {
                throw YAML::BadConversion(node.Mark());
            }
            value = node.as<double>();
        } catch (const YAML::BadConversion&) {
            fail(node, keyPath, "expected a number");
        }
        if (value < min || value > max) {
            std::ostringstream range;
            range << "must be between " << min << " and " << max;
            fail(node, keyPath, range.str());
        }
        return value;
    }

    int64_t duration(const YAML::Node& node, const std::string& keyPath, int64_t minMs,
                     int64_t maxMs) const {
        const std::string text = string(node, keyPath);
        int64_t value = 0;
        try {
            value = parseDurationMs(text);
        } catch (const std::invalid_argument& error) {
            fail(node, keyPath, std::string(error.what()) + ", got '" + text + "'");
        }
        if (value < minMs || value > maxMs) {
            fail(node, keyPath,
                 "must be between " + std::to_string(minMs) + "ms and " + std::to_string(maxMs) +
                     "ms");
        }
        return value;
    }

    int64_t size(const YAML::Node& node, const std::string& keyPath, int64_t minBytes,
                 int64_t maxBytes) const {
        const std::string text = string(node, keyPath);
        int64_t value = 0;
        try {
            value = parseSizeBytes(text);
        } catch (const std::invalid_argument& error) {
            fail(node, keyPath, std::string(error.what()) + ", got '" + text + "'");
        }
        if (value < minBytes || value > maxBytes) {
            fail(node, keyPath,
                 "must be between " + std::to_string(minBytes) + " and " +
                     std::to_string(maxBytes) + " bytes");
        }
        return value;
    }

    std::string oneOf(const YAML::Node& node, const std::string& keyPath,
                      const std::vector<std::string>& allowed) const {
        const std::string value = string(node, keyPath);
        for (const auto& candidate : allowed) {
            if (candidate == value) {
                return value;
            }
        }
        std::string list;
        for (const auto& candidate : allowed) {
            list += list.empty() ? candidate : ", " + candidate;
        }
        fail(node, keyPath, "must be one of: " + list + " (got '" + value + "')");
    }

  private:
    std::string source_;
};

constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

void validateTopicPrefix(const Reader& reader, const YAML::Node& node, const std::string& keyPath,
                         const std::string& prefix) {
    if (prefix.empty() || prefix.front() == '/' || prefix.back() == '/' ||
        prefix.find_first_of("+#") != std::string::npos || prefix.front() == '$') {
        reader.fail(node, keyPath,
                    "must be a topic without wildcards and without a leading or trailing '/'");
    }
}

using Keys = std::map<std::string, Reader::KeyReader>;

// A section (a mapping) whose keys `keys` reads.
Reader::KeyReader section(const Reader& r, Keys keys) {
    return [&r, keys = std::move(keys)](const YAML::Node& n, const std::string& k) {
        r.mapping(n, k, keys);
    };
}

std::string fileName(const Reader& r, const YAML::Node& n, const std::string& k) {
    std::string name = r.string(n, k);
    if (name.empty()) {
        r.fail(n, k, "expected a file name");
    }
    return name;
}

// TLS files: broker.tls and store.mysql.tls (docs/operations.md, "TLS").
Keys tlsFileKeys(const Reader& r, TlsSettings& files) {
    return {
        {"ca_file", [&r, &files](const YAML::Node& n,
                                 const std::string& k) { files.caFile = fileName(r, n, k); }},
        {"cert_file", [&r, &files](const YAML::Node& n,
                                   const std::string& k) { files.certFile = fileName(r, n, k); }},
        {"key_file", [&r, &files](const YAML::Node& n,
                                  const std::string& k) { files.keyFile = fileName(r, n, k); }},
    };
}

Keys brokerKeys(const Reader& r, BrokerConfig& broker) {
    return {
        {"uri", [&](const YAML::Node& n, const std::string& k) { broker.uri = r.string(n, k); }},
        {"client",
         [&](const YAML::Node& n, const std::string& k) {
             broker.client = r.oneOf(n, k, {"paho", "mosquitto"}) == "mosquitto"
                                 ? BrokerConfig::Client::Mosquitto
                                 : BrokerConfig::Client::Paho;
         }},
        {"shards",
         [&](const YAML::Node& n, const std::string& k) {
             if (!n.IsSequence() || n.size() == 0) {
                 r.fail(n, k, "expected a list of broker uris, one per shard");
             }
             for (const auto& item : n) {
                 const std::string uri = r.string(item, k);
                 if (uri.empty()) {
                     r.fail(item, k, "a shard's uri is empty (tcp://HOST:PORT, ssl://HOST:PORT)");
                 }
                 if (std::find(broker.shards.begin(), broker.shards.end(), uri) !=
                     broker.shards.end()) {
                     r.fail(item, k, uri + " is listed twice");
                 }
                 broker.shards.push_back(uri);
             }
         }},
        {"client_id",
         [&](const YAML::Node& n, const std::string& k) { broker.clientId = r.string(n, k); }},
        {"username",
         [&](const YAML::Node& n, const std::string& k) { broker.username = r.string(n, k); }},
        {"password",
         [&](const YAML::Node& n, const std::string& k) { broker.password = r.string(n, k); }},
        {"password_file",
         [&](const YAML::Node& n, const std::string& k) { broker.passwordFile = r.string(n, k); }},
        {"share_group",
         [&](const YAML::Node& n, const std::string& k) {
             broker.shareGroup = r.string(n, k);
             if (broker.shareGroup.empty() ||
                 broker.shareGroup.find_first_of("/+#") != std::string::npos) {
                 r.fail(n, k, "must be a non-empty name without '/', '+' or '#'");
             }
         }},
        {"keepalive",
         [&](const YAML::Node& n, const std::string& k) {
             broker.keepAliveSeconds = static_cast<int>(r.duration(n, k, 1000, 3600000) / 1000);
         }},
        {"session_expiry",
         [&](const YAML::Node& n, const std::string& k) {
             broker.sessionExpirySeconds =
                 static_cast<int>(r.duration(n, k, 0, int64_t{86400} * 1000 * 30) / 1000);
         }},
        {"max_inflight",
         [&](const YAML::Node& n, const std::string& k) {
             broker.maxInflight = static_cast<int>(r.integer(n, k, 1, 65535));
         }},
        {"max_buffered_messages",
         [&](const YAML::Node& n, const std::string& k) {
             broker.maxBufferedMessages = static_cast<int>(r.integer(n, k, 1, kMaxInt));
         }},
        {"tls", section(r, tlsFileKeys(r, broker.tls))},
    };
}

void checkBroker(const Reader& r, const YAML::Node& root, const BrokerConfig& broker) {
    if (!broker.password.empty() && !broker.passwordFile.empty()) {
        r.fail(root["broker"], "broker", "set password or password_file, not both");
    }
    if (!broker.shards.empty() && root["broker"]["uri"]) {
        r.fail(root["broker"]["shards"], "broker.shards",
               "set uri (one broker) or shards (users sharded over brokers), not both");
    }
    for (const auto& uri : broker.uris()) {
        if (broker.tls.any() && !isTlsUri(uri)) {
            r.fail(root["broker"]["tls"], "broker.tls",
                   "is set, but broker." +
                       std::string(broker.shards.empty() ? "uri " : "shards entry ") + uri +
                       " is not a TLS address: use ssl://HOST:8883 (or wss://HOST:PORT)");
        }
    }
    if (broker.tls.certFile.empty() != broker.tls.keyFile.empty()) {
        r.fail(root["broker"]["tls"], "broker.tls", "set both cert_file and key_file, or neither");
    }
    for (const auto& uri : broker.uris()) {
        if (broker.client == BrokerConfig::Client::Mosquitto &&
            (uri.rfind("ws://", 0) == 0 || uri.rfind("wss://", 0) == 0)) {
            const YAML::Node client = root["broker"]["client"];
            r.fail(client ? client : root["broker"], "broker.client",
                   "mosquitto cannot connect over WebSockets (libmosquitto has no WebSocket "
                   "client), and broker." +
                       std::string(broker.shards.empty() ? "uri is " : "shards has ") + uri +
                       ": use ssl://HOST:8883, or broker.client: paho");
        }
    }
}

Keys topicKeys(const Reader& r, std::string& prefix) {
    return {
        {"prefix",
         [&](const YAML::Node& n, const std::string& k) {
             prefix = r.string(n, k);
             validateTopicPrefix(r, n, k, prefix);
         }},
    };
}

Keys sqliteKeys(const Reader& r, SqliteConfig& sqlite) {
    return {
        {"path", [&](const YAML::Node& n, const std::string& k) { sqlite.path = r.string(n, k); }},
        {"synchronous",
         [&](const YAML::Node& n, const std::string& k) {
             sqlite.synchronous = r.oneOf(n, k, {"full", "normal"});
         }},
    };
}

Reader::KeyReader mysqlTlsReader(const Reader& r, MysqlTlsConfig& tls) {
    Keys keys = tlsFileKeys(r, tls.files);
    keys["mode"] = [&](const YAML::Node& n, const std::string& k) {
        tls.mode = r.oneOf(n, k, {"verify_identity", "verify_ca"}) == "verify_ca"
                       ? MysqlTlsConfig::Mode::VerifyCa
                       : MysqlTlsConfig::Mode::VerifyIdentity;
    };
    return [&r, &tls, keys = std::move(keys)](const YAML::Node& n, const std::string& k) {
        tls.mode = MysqlTlsConfig::Mode::VerifyIdentity;  // unless mode says
        r.mapping(n, k, keys);
    };
}

// store.mysql.hosts: a list of "host" or "host:port" ("[v6 address]:port"); port defaults to
// store.mysql.port, known only once the whole section is read (0 until then).
Reader::KeyReader mysqlHostsReader(const Reader& r, std::vector<MysqlHost>& hosts) {
    return [&](const YAML::Node& n, const std::string& k) {
        if (!n.IsSequence() || n.size() == 0) {
            r.fail(n, k, "expected a list of servers (host or host:port)");
        }
        for (const auto& item : n) {
            const std::string text = r.string(item, k);
            MysqlHost host;
            host.port = 0;
            std::string portText;
            if (!text.empty() && text.front() == '[') {
                const size_t close = text.find(']');
                if (close == std::string::npos ||
                    (close + 1 < text.size() && text[close + 1] != ':')) {
                    r.fail(item, k, "'" + text + "' is not host, host:port or [address]:port");
                }
                host.host = text.substr(1, close - 1);
                if (close + 1 < text.size()) {
                    portText = text.substr(close + 2);
                }
            } else if (const size_t colon = text.find(':'); colon != std::string::npos) {
                if (text.find(':', colon + 1) != std::string::npos) {
                    r.fail(item, k, "'" + text + "': write an IPv6 address as [address]:port");
                }
                host.host = text.substr(0, colon);
                portText = text.substr(colon + 1);
            } else {
                host.host = text;
            }
            if (host.host.empty()) {
                r.fail(item, k, "'" + text + "' has no host");
            }
            if (!portText.empty() || text.back() == ':') {
                int port = 0;
                const auto [end, error] =
                    std::from_chars(portText.data(), portText.data() + portText.size(), port);
                if (error != std::errc() || end != portText.data() + portText.size() || port < 1 ||
                    port > 65535) {
                    r.fail(item, k, "'" + text + "': the port must be 1 to 65535");
                }
                host.port = port;
            }
            hosts.push_back(host);
        }
    };
}

Keys mysqlKeys(const Reader& r, MysqlConfig& mysql) {
    return {
        {"host", [&](const YAML::Node& n, const std::string& k) { mysql.host = r.string(n, k); }},
        {"hosts", mysqlHostsReader(r, mysql.hosts)},
        {"port",
         [&](const YAML::Node& n, const std::string& k) {
             mysql.port = static_cast<int>(r.integer(n, k, 1, 65535));
         }},
        {"socket",
         [&](const YAML::Node& n, const std::string& k) { mysql.socket = r.string(n, k); }},
        {"user", [&](const YAML::Node& n, const std::string& k) { mysql.user = r.string(n, k); }},
        {"password",
         [&](const YAML::Node& n, const std::string& k) { mysql.password = r.string(n, k); }},
        {"password_file",
         [&](const YAML::Node& n, const std::string& k) { mysql.passwordFile = r.string(n, k); }},
        {"database",
         [&](const YAML::Node& n, const std::string& k) { mysql.database = r.string(n, k); }},
        {"pool_size",
         [&](const YAML::Node& n, const std::string& k) {
             mysql.poolSize = static_cast<int>(r.integer(n, k, 1, 256));
         }},
        {"batches_in_flight",
         [&](const YAML::Node& n, const std::string& k) {
             mysql.batchesInFlight = static_cast<int>(r.integer(n, k, 1, 256));
         }},
        {"connect_timeout",
         [&](const YAML::Node& n, const std::string& k) {
             mysql.connectTimeoutSeconds = static_cast<int>(r.duration(n, k, 1000, 600000) / 1000);
         }},
        {"io_timeout",
         [&](const YAML::Node& n, const std::string& k) {
             mysql.ioTimeoutSeconds = static_cast<int>(r.duration(n, k, 1000, 3600000) / 1000);
         }},
        {"tls", mysqlTlsReader(r, mysql.tls)},
    };
}

Keys storeKeys(const Reader& r, StoreConfig& store) {
    return {
        {"backend",
         [&](const YAML::Node& n, const std::string& k) {
             store.backend = r.oneOf(n, k, {"sqlite", "mysql"});
         }},
        {"sqlite", section(r, sqliteKeys(r, store.sqlite))},
        {"mysql", section(r, mysqlKeys(r, store.mysql))},
        {"retry_for",
         [&](const YAML::Node& n, const std::string& k) {
             store.retryForMs = r.duration(n, k, 0, 3600000);
         }},
    };
}

void checkStore(const Reader& r, const YAML::Node& root, StoreConfig& store) {
    auto& mysql = store.mysql;
    if (!mysql.hosts.empty()) {
        const YAML::Node section = root["store"]["mysql"];
        if (section["host"]) {
            r.fail(section["hosts"], "store.mysql.hosts", "set host or hosts, not both");
        }
        if (!mysql.socket.empty()) {
            r.fail(section["hosts"], "store.mysql.hosts",
                   "a Unix socket (store.mysql.socket) is one server on this machine: set socket "
                   "or hosts, not both");
        }
        for (auto& host : mysql.hosts) {
            if (host.port == 0) {
                host.port = mysql.port;
            }
        }
        for (auto host = mysql.hosts.begin(); host != mysql.hosts.end(); ++host) {
            if (std::find(mysql.hosts.begin(), host, *host) != host) {
                r.fail(section["hosts"], "store.mysql.hosts",
                       host->host + ":" + std::to_string(host->port) + " is listed twice");
            }
        }
    }
    if (!mysql.password.empty() && !mysql.passwordFile.empty()) {
        r.fail(root["store"], "store.mysql", "set password or password_file, not both");
    }
    if (mysql.batchesInFlight > mysql.poolSize) {
        r.fail(root["store"], "store.mysql.batches_in_flight",
               "must not exceed store.mysql.pool_size (each batch holds a connection)");
    }
    if (mysql.tls.enabled()) {
        const YAML::Node node = root["store"]["mysql"]["tls"];
        if (!mysql.socket.empty()) {
            r.fail(node, "store.mysql.tls",
                   "TLS is for TCP (host and port); a Unix socket (store.mysql.socket) does not "
                   "leave the machine: set one of them");
        }
        if (mysql.tls.files.certFile.empty() != mysql.tls.files.keyFile.empty()) {
            r.fail(node, "store.mysql.tls", "set both cert_file and key_file, or neither");
        }
        if (mysql.tls.mode == MysqlTlsConfig::Mode::VerifyCa && mysql.tls.files.caFile.empty()) {
            r.fail(node, "store.mysql.tls.mode",
                   "verify_ca needs ca_file, the CA that signed the server's certificate");
        }
    }
}

Keys limitsKeys(const Reader& r, LimitsConfig& limits) {
    return {
        {"max_payload_bytes",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxPayloadBytes = r.integer(n, k, 1024, 16 * 1024 * 1024);
         }},
        {"max_body_bytes",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxBodyBytes = r.integer(n, k, 1, 1024 * 1024);
         }},
        {"max_meta_bytes",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxMetaBytes = r.integer(n, k, 0, 1024 * 1024);
         }},
        {"max_group_members",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxGroupMembers = static_cast<int>(r.integer(n, k, 2, 10000));
         }},
        {"user_commands_per_second",
         [&](const YAML::Node& n, const std::string& k) {
             limits.userCommandsPerSecond = r.number(n, k, 0, 1000000);
         }},
        {"user_command_burst",
         [&](const YAML::Node& n, const std::string& k) {
             limits.userCommandBurst = static_cast<int>(r.integer(n, k, 1, 1000000));
         }},
        {"user_queued_commands",
         [&](const YAML::Node& n, const std::string& k) {
             limits.userQueuedCommands = static_cast<int>(r.integer(n, k, 0, 1000000));
         }},
        {"max_bytes_per_command",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxBytesPerCommand = r.integer(n, k, 1024, 64 * 1024 * 1024);
         }},
        {"user_transfer_bytes_per_second",
         [&](const YAML::Node& n, const std::string& k) {
             limits.userTransferBytesPerSecond = r.number(n, k, 0, 1e12);
         }},
        {"user_transfer_burst_bytes",
         [&](const YAML::Node& n, const std::string& k) {
             limits.userTransferBurstBytes = r.integer(n, k, 1, int64_t{1} << 40);
         }},
        {"edit_window",
         [&](const YAML::Node& n, const std::string& k) {
             limits.editWindowMs = r.duration(n, k, 0, int64_t{3650} * 86400 * 1000);
         }},
        {"max_reaction_emojis",
         [&](const YAML::Node& n, const std::string& k) {
             limits.maxReactionEmojis = static_cast<int>(r.integer(n, k, 1, 1000));
         }},
    };
}

void checkLimits(const Reader& r, const YAML::Node& root, const LimitsConfig& limits) {
    if (limits.userTransferBytesPerSecond > 0 &&
        limits.userTransferBurstBytes < limits.maxBytesPerCommand) {
        r.fail(root["limits"], "limits.user_transfer_burst_bytes",
               "must be at least max_bytes_per_command, or no command with that many bytes is "
               "ever admitted");
    }
    if (limits.maxBodyBytes + limits.maxMetaBytes > limits.maxPayloadBytes) {
        r.fail(root["limits"], "limits",
               "max_body_bytes + max_meta_bytes must not exceed max_payload_bytes");
    }
}

Keys httpKeys(const Reader& r, HttpConfig& http) {
    return {
        {"listen",
         [&](const YAML::Node& n, const std::string& k) {
             http.listen = r.string(n, k);
             if (http.listen.empty()) {
                 r.fail(n, k, "must be an address such as 127.0.0.1");
             }
         }},
        {"port",
         [&](const YAML::Node& n, const std::string& k) {
             http.port = static_cast<int>(r.integer(n, k, 0, 65535));
         }},
    };
}

Keys typingKeys(const Reader& r, TypingConfig& typing) {
    return {
        {"burst",
         [&](const YAML::Node& n, const std::string& k) {
             typing.burst = static_cast<int>(r.integer(n, k, 1, 1000));
         }},
        {"per_second",
         [&](const YAML::Node& n, const std::string& k) {
             typing.perSecond = r.number(n, k, 0.01, 1000);
         }},
    };
}

Keys searchKeys(const Reader& r, SearchConfig& search) {
    return {
        {"max_query_bytes",
         [&](const YAML::Node& n, const std::string& k) {
             search.maxQueryBytes = r.integer(n, k, 1, 4096);
         }},
        {"max_terms",
         [&](const YAML::Node& n, const std::string& k) {
             search.maxTerms = static_cast<int>(r.integer(n, k, 1, 64));
         }},
        {"max_page",
         [&](const YAML::Node& n, const std::string& k) {
             search.maxPage = static_cast<int>(r.integer(n, k, 1, 500));
         }},
        {"purge_after",
         [&](const YAML::Node& n, const std::string& k) {
             search.purgeAfterMs = r.duration(n, k, 0, int64_t{7} * 86400 * 1000);
         }},
    };
}

Keys presenceKeys(const Reader& r, PresenceConfig& presence) {
    return {
        {"away_after",
         [&](const YAML::Node& n, const std::string& k) {
             presence.awayAfterMs = r.duration(n, k, 1000, int64_t{86400} * 1000);
         }},
        {"sweep_interval",
         [&](const YAML::Node& n, const std::string& k) {
             presence.sweepIntervalMs = r.duration(n, k, 50, 3600000);
         }},
    };
}

void checkPresence(const Reader& r, const YAML::Node& root, const PresenceConfig& presence) {
    if (presence.sweepIntervalMs > presence.awayAfterMs) {
        r.fail(root["presence"], "presence.sweep_interval", "must not exceed presence.away_after");
    }
}

Keys serverKeys(const Reader& r, ServerConfig& server) {
    return {
        {"workers",
         [&](const YAML::Node& n, const std::string& k) {
             server.workers = static_cast<int>(r.integer(n, k, 1, 256));
         }},
        {"queue_capacity",
         [&](const YAML::Node& n, const std::string& k) {
             server.queueCapacity = static_cast<int>(r.integer(n, k, 1, 10000000));
         }},
        {"shutdown_timeout",
         [&](const YAML::Node& n, const std::string& k) {
             server.shutdownTimeoutMs = r.duration(n, k, 0, 3600000);
         }},
    };
}

Keys usersKeys(const Reader& r, UsersConfig& users) {
    return {
        {"directory",
         [&](const YAML::Node& n, const std::string& k) {
             users.directory = r.oneOf(n, k, {"none", "known"}) == "known" ? UserDirectory::Known
                                                                           : UserDirectory::None;
         }},
        {"new_member_history",
         [&](const YAML::Node& n, const std::string& k) {
             users.newMembersSeeWholeHistory = r.oneOf(n, k, {"since_joining", "all"}) == "all";
         }},
    };
}

Keys logKeys(const Reader& r, LogConfig& log) {
    return {
        {"level",
         [&](const YAML::Node& n, const std::string& k) {
             log.level =
                 r.oneOf(n, k, {"trace", "debug", "info", "warn", "error", "critical", "off"});
         }},
        {"format",
         [&](const YAML::Node& n, const std::string& k) {
             log.format = r.oneOf(n, k, {"text", "json"});
         }},
    };
}

Keys luaKeys(const Reader& r, LuaConfig& lua) {
    return {
        {"memory_limit",
         [&](const YAML::Node& n, const std::string& k) {
             lua.memoryLimitBytes = r.size(n, k, 64 * 1024, int64_t{4} << 30);
         }},
        {"instruction_limit",
         [&](const YAML::Node& n, const std::string& k) {
             lua.instructionLimit = r.integer(n, k, 1000, int64_t{1} << 40);
         }},
    };
}

Reader::KeyReader adminsReader(const Reader& r, std::vector<std::string>& admins) {
    return [&](const YAML::Node& n, const std::string& k) {
        if (!n.IsSequence()) {
            r.fail(n, k, "expected a list of user ids");
        }
        for (const auto& item : n) {
            const std::string uid = r.string(item, k);
            if (!isValidUid(uid)) {
                r.fail(item, k, "'" + uid + "' is not a valid user id");
            }
            admins.push_back(uid);
        }
    };
}

ExtensionConfig readExtension(const Reader& r, const YAML::Node& item,
                              const std::string& itemPath) {
    ExtensionConfig extension;
    const Keys extensionKeys = {
        {"name",
         [&](const YAML::Node& v, const std::string& p) { extension.name = r.string(v, p); }},
        {"plugin",
         [&](const YAML::Node& v, const std::string& p) { extension.pluginPath = r.string(v, p); }},
        {"script",
         [&](const YAML::Node& v, const std::string& p) { extension.scriptPath = r.string(v, p); }},
        {"options",
         [&](const YAML::Node& v, const std::string& p) {
             if (!v.IsMap() && !v.IsNull()) {
                 r.fail(v, p, "expected a mapping");
             }
             extension.options = v.IsNull() ? nlohmann::json::object() : yamlToJson(v);
         }},
        {"memory_limit",
         [&](const YAML::Node& v, const std::string& p) {
             extension.memoryLimitBytes = r.size(v, p, 64 * 1024, int64_t{4} << 30);
         }},
        {"instruction_limit",
         [&](const YAML::Node& v, const std::string& p) {
             extension.instructionLimit = r.integer(v, p, 1000, int64_t{1} << 40);
         }},
    };
    r.mapping(item, itemPath, extensionKeys);
    if (extension.pluginPath.empty() == extension.scriptPath.empty()) {
        r.fail(item, itemPath, "set exactly one of plugin and script");
    }
    if (extension.name.empty()) {
        r.fail(item, itemPath + ".name", "is required");
    }
    const bool validName =
        extension.name.size() <= 64 &&
        std::all_of(extension.name.begin(), extension.name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        });
    if (!validName) {
        r.fail(item, itemPath + ".name", "must be 1-64 characters from a-z 0-9 _ -");
    }
    if (!extension.pluginPath.empty() &&
        (extension.memoryLimitBytes != 0 || extension.instructionLimit != 0)) {
        r.fail(item, itemPath, "memory_limit and instruction_limit apply to scripts only");
    }
    return extension;
}

Reader::KeyReader extensionsReader(const Reader& r, std::vector<ExtensionConfig>& extensions) {
    return [&](const YAML::Node& n, const std::string& k) {
        if (!n.IsSequence()) {
            r.fail(n, k, "expected a list of extensions");
        }
        std::set<std::string> names;
        for (size_t i = 0; i < n.size(); ++i) {
            const YAML::Node item = n[i];
            const std::string itemPath = k + "[" + std::to_string(i) + "]";
            ExtensionConfig extension = readExtension(r, item, itemPath);
            if (!names.insert(extension.name).second) {
                r.fail(item, itemPath + ".name", "'" + extension.name + "' is already used");
            }
            extensions.push_back(std::move(extension));
        }
    };
}

Reader::KeyReader hooksReader(const Reader& r, std::map<std::string, HookPolicyConfig>& hooks) {
    return [&](const YAML::Node& n, const std::string& k) {
        if (n.IsNull()) {
            return;
        }
        if (!n.IsMap()) {
            r.fail(n, k, "expected a mapping of hook names");
        }
        for (const auto& entry : n) {
            const std::string name = entry.first.as<std::string>();
            const std::string path = k + "." + name;
            if (!hookByName(name) && name != "command" && name != "timer") {
                std::string known = "command, timer";
                for (Hook hook : kAllHooks) {
                    known += ", " + std::string(hookName(hook));
                }
                r.fail(entry.first, path, "unknown hook (known: " + known + ")");
            }
            HookPolicyConfig policy;
            const Keys policyKeys = {
                {"budget",
                 [&](const YAML::Node& v, const std::string& p) {
                     policy.budgetMs = r.duration(v, p, 1, 600000);
                 }},
                {"on_failure",
                 [&](const YAML::Node& v, const std::string& p) {
                     policy.failClosed = r.oneOf(v, p, {"open", "closed"}) == "closed";
                 }},
            };
            r.mapping(entry.second, path, policyKeys);
            hooks[name] = policy;
        }
    };
}

// One reader per section, each filling its component's settings; then the checks that span
// keys of a section.
Config parse(const YAML::Node& root, const std::string& source) {
    Config config;
    config.sourceFile = source;
    const Reader r(source);
    r.mapping(root, "",
              {
                  {"admins", adminsReader(r, config.admins)},
                  {"extensions", extensionsReader(r, config.extensions)},
                  {"hooks", hooksReader(r, config.hooks)},
                  {"lua", section(r, luaKeys(r, config.lua))},
                  {"broker", section(r, brokerKeys(r, config.broker))},
                  {"topics", section(r, topicKeys(r, config.topicPrefix))},
                  {"store", section(r, storeKeys(r, config.store))},
                  {"limits", section(r, limitsKeys(r, config.limits))},
                  {"search", section(r, searchKeys(r, config.search))},
                  {"typing", section(r, typingKeys(r, config.typing))},
                  {"presence", section(r, presenceKeys(r, config.presence))},
                  {"users", section(r, usersKeys(r, config.users))},
                  {"server", section(r, serverKeys(r, config.server))},
                  {"log", section(r, logKeys(r, config.log))},
                  {"http", section(r, httpKeys(r, config.http))},
              });
    checkBroker(r, root, config.broker);
    checkStore(r, root, config.store);
    checkLimits(r, root, config.limits);
    checkPresence(r, root, config.presence);
    return config;
}

}  // namespace

Config loadConfigText(const std::string& yamlText, const std::string& sourceName) {
    YAML::Node root;
    try {
        root = YAML::Load(yamlText);
    } catch (const YAML::Exception& error) {
        throw ConfigError(sourceName + ":" + std::to_string(error.mark.line + 1) +
                          ": not valid YAML: " + error.msg);
    }
    return parse(root, sourceName);
}

Config loadConfigFile(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw ConfigError(path + ": cannot be read");
    }
    std::stringstream text;
    text << file.rdbuf();
    return loadConfigText(text.str(), path);
}

}  // namespace parley
