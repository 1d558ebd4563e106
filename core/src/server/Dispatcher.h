#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <unordered_map>

#include "protocol/Command.h"
#include "protocol/Outbox.h"

namespace parley {

// Routes a command to the handler of its op and sends exactly one reply. The one place where
// handler exceptions are caught: ProtocolError becomes its code, StoreUnavailable "unavailable",
// anything else "internal" (logged with uid, op and request id).
class Dispatcher {
  public:
    // Returns the reply's fields (besides "id" and "ok"); throws ProtocolError to refuse.
    using Handler = std::function<nlohmann::json(const Command&)>;

    explicit Dispatcher(Outbox& outbox) : outbox_(outbox) {}

    // Throws std::invalid_argument if the op is taken.
    void add(const std::string& op, Handler handler);
    bool has(const std::string& op) const { return handlers_.count(op) > 0; }

    void dispatch(const Command& command) const;

  private:
    Outbox& outbox_;
    std::unordered_map<std::string, Handler> handlers_;
};

}  // namespace parley
