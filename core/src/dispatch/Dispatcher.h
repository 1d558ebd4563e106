#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <set>
#include <string>
#include <unordered_map>

#include "hooks/HookBus.h"
#include "ops/Metrics.h"
#include "protocol/Command.h"
#include "protocol/Outbox.h"

namespace parley {

// What a handler declares about its op when it adds it to the Dispatcher; the dispatcher and
// the server act on it without knowing op names.
struct OpTraits {
    // A command of this op shows its user is there (online again, last_seen moved), unless the
    // command says "activity": false. Off for the op that sets presence itself.
    bool isActivity = true;
};

// Routes a command to the handler of its op (parleyd's own, else an extension's) and sends
// exactly one reply, counted in parley_commands_total and timed. The one place where handler
// exceptions are caught: ProtocolError becomes its code, StoreUnavailable "unavailable", anything
// else "internal" (logged with uid, op and request id).
class Dispatcher {
  public:
    // Returns the reply's fields (besides "id" and "ok"); throws ProtocolError to refuse.
    using Handler = std::function<nlohmann::json(const Command&)>;
    using AdminCheck = std::function<bool(const std::string& uid)>;

    Dispatcher(Outbox& outbox, const HookBus& hooks, AdminCheck isAdmin, ops::Metrics& metrics)
        : outbox_(outbox),
          hooks_(hooks),
          isAdmin_(std::move(isAdmin)),
          metrics_(metrics),
          unknownOp_(metrics.op(ops::Metrics::kUnknownOp)) {}

    // Throws std::invalid_argument if the op is taken.
    void add(const std::string& op, Handler handler, OpTraits traits = {});
    bool has(const std::string& op) const { return handlers_.count(op) > 0; }
    std::set<std::string> ops() const;

    // Returns the bytes sent after the reply (a reply with bytes), 0 for any other.
    size_t dispatch(const Command& command) const;

    // Whether `command` counts as its user's activity: its op's traits (extensions' ops and
    // unknown ones count) and the command's own "activity" flag.
    bool isActivity(const Command& command) const;

    // The counters of `op`: parleyd's own ops and unknown ones without a lock, extensions' ops
    // through Metrics::op.
    ops::OpMetrics& opMetrics(const std::string& op) const;

  private:
    Outbox& outbox_;
    const HookBus& hooks_;
    AdminCheck isAdmin_;
    ops::Metrics& metrics_;
    ops::OpMetrics& unknownOp_;
    struct Entry {
        Handler handler;
        ops::OpMetrics* metrics;
        OpTraits traits;
    };
    std::unordered_map<std::string, Entry> handlers_;
};

}  // namespace parley
