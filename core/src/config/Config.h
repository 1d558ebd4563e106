#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chat/ChatRules.h"
#include "extensions/ExtensionConfig.h"
#include "hooks/HookBus.h"
#include "log/LogConfig.h"
#include "lua/LuaConfig.h"
#include "ops/HttpConfig.h"
#include "store/StoreConfig.h"
#include "transport/BrokerConfig.h"

namespace parley {

struct ServerConfig {
    int workers = 64;  // config/parleyd.yaml says why
    int queueCapacity = 10000;
    int64_t shutdownTimeoutMs = 10000;
};

// parleyd's whole configuration (config/parleyd.yaml, docs/operations.md), as ConfigLoader reads
// it, one function per section: the rules of chat (ChatRules: the top-level sections admins,
// limits, search, typing, presence and users) and each component's own settings, which the
// component declares (transport/BrokerConfig.h, store/StoreConfig.h, ...). The config sits above
// the components it composes: a component includes its own settings, never this header.
struct Config : ChatRules {
    std::string sourceFile;  // where it was read from, for messages
    BrokerConfig broker;
    std::string topicPrefix = "parley/v1";
    StoreConfig store;
    ServerConfig server;
    LogConfig log;
    HttpConfig http;
    std::vector<ExtensionConfig> extensions;
    LuaConfig lua;
    // By hook name ("message.before_store", ...), plus "command" and "timer". Absent = defaults.
    std::map<std::string, HookPolicyConfig> hooks;
};

}  // namespace parley
