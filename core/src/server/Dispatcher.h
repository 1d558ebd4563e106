#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <set>
#include <string>
#include <unordered_map>

#include "hooks/HookBus.h"
#include "protocol/Command.h"
#include "protocol/Outbox.h"

namespace parley {

// Routes a command to the handler of its op (parleyd's own, else an extension's) and sends
// exactly one reply. The one place where handler exceptions are caught: ProtocolError becomes its
// code, StoreUnavailable "unavailable", anything else "internal" (logged with uid, op and request
// id).
class Dispatcher {
  public:
    // Returns the reply's fields (besides "id" and "ok"); throws ProtocolError to refuse.
    using Handler = std::function<nlohmann::json(const Command&)>;
    using AdminCheck = std::function<bool(const std::string& uid)>;

    Dispatcher(Outbox& outbox, const HookBus& hooks, AdminCheck isAdmin)
        : outbox_(outbox), hooks_(hooks), isAdmin_(std::move(isAdmin)) {}

    // Throws std::invalid_argument if the op is taken.
    void add(const std::string& op, Handler handler);
    bool has(const std::string& op) const { return handlers_.count(op) > 0; }
    std::set<std::string> ops() const;

    void dispatch(const Command& command) const;

  private:
    Outbox& outbox_;
    const HookBus& hooks_;
    AdminCheck isAdmin_;
    std::unordered_map<std::string, Handler> handlers_;
};

}  // namespace parley
