#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "hooks/Hook.h"

namespace parley {

// A hook's policy as the config's hooks section gives it (HookPolicy is what the bus applies).
struct HookPolicyConfig {
    int64_t budgetMs = 50;
    bool failClosed = false;
};

// One ordered chain per hook, plus the custom commands extensions add. Handlers of plugins,
// scripts and the core sit on the same chains, ordered by their extension's position in the
// config, then by registration. Every call is timed against the hook's budget, exceptions are
// caught, and failures are logged with the handler's extension, counted, and handled by the
// hook's policy (fail open or fail closed).
//
// Registration is thread-safe and may happen while commands flow (a script reload): readers work
// on an immutable snapshot. With no handler on a hook, a call is one atomic load of a bit mask.
class HookBus {
  public:
    using Token = uint64_t;

    HookBus();

    // Configuration, set before extensions load.
    void setExtensionOrder(const std::vector<std::string>& extensions);
    void setPolicy(Hook hook, HookPolicy policy);
    void setCommandPolicy(HookPolicy policy) { commandPolicy_ = policy; }
    void setTimerPolicy(HookPolicy policy) { timerPolicy_ = policy; }
    HookPolicy policy(Hook hook) const { return policies_[index(hook)]; }
    HookPolicy commandPolicy() const { return commandPolicy_; }
    HookPolicy timerPolicy() const { return timerPolicy_; }
    // Ops no extension may register (parleyd's own).
    void setReservedOps(std::set<std::string> ops);

    Token add(Hook hook, const std::string& extension, HookFunction handler);
    // Throws std::invalid_argument for a reserved or malformed op. `takesBytes`: the handler
    // also answers the op sent with bytes (Command::bytes); others never see such a command.
    Token addCommand(const std::string& op, const std::string& extension, CommandFunction handler,
                     bool takesBytes = false);
    bool remove(Token token);
    // Removes every hook handler and command of an extension.
    void removeExtension(const std::string& extension);

    // Everything an extension registers, swapped in as one step (a script reload): calls in
    // flight finish on the old handlers, later calls see only the new ones.
    struct Registration {
        std::optional<Hook> hook;  // set for a hook handler
        std::string op;            // set for a command
        HookFunction hookHandler;
        CommandFunction commandHandler;
    };
    void replaceExtension(const std::string& extension, std::vector<Registration> registrations);

    bool has(Hook hook) const {
        return (mask_.load(std::memory_order_acquire) >> index(hook)) & 1U;
    }
    bool hasCommand(const std::string& op) const;
    // An extension registered `op` to take bytes.
    bool commandTakesBytes(const std::string& op) const;

    // Runs the chain of `hook`. For hooks that may reject: throws ProtocolError when a handler
    // rejects, or fails while the hook fails closed. Never throws for the other hooks.
    void run(Hook hook, const HookPayload& payload) const;

    void beforeMessageStore(MessageDraft& draft) const { run(Hook::MessageBeforeStore, &draft); }
    void beforeMessageEdit(MessageDraft& draft) const { run(Hook::MessageBeforeEdit, &draft); }
    void beforeConversationCreate(const ConversationDraft& draft) const {
        run(Hook::ConversationBeforeCreate, &draft);
    }
    void beforeConversationOpen(const ConversationDraft& draft) const {
        run(Hook::ConversationBeforeOpen, &draft);
    }
    // Leaves in draft.recipients those the handlers kept. A handler that fails is undone (fail
    // open); with the hook failing closed, nobody gets the event.
    void beforeDeliver(DeliveryDraft& draft) const { run(Hook::EventBeforeDeliver, &draft); }
    void afterMessageStore(const store::MessageRecord& message,
                           const std::vector<std::string>& members) const;
    void afterConversationCreate(const store::ConversationRecord& conversation) const {
        run(Hook::ConversationAfterCreate, &conversation);
    }
    // `message` as it was before it was deleted by `deletedBy`.
    void afterMessageDelete(const store::MessageRecord& message,
                            const std::vector<std::string>& members,
                            const std::string& deletedBy) const;
    void afterRead(const std::string& conv, const std::string& uid, int64_t readSeq) const;
    // presence.changed, and user.connected / user.disconnected when the change is one of those.
    void presenceChanged(const store::PresenceRecord& presence,
                         store::PresenceState previous) const;

    // Runs the handlers of a custom command until one answers (for a command with bytes, only
    // those that take bytes). Returns the reply, or nothing if no handler answered (all
    // deferred, or none registered). Throws ProtocolError for a rejection or a failure (always
    // fail closed: the client gets "internal").
    std::optional<CommandAnswer> runCommand(const CommandCall& call) const;

    // Runs fn as `extension`'s work at `point` (e.g. "timer"): timed against `policy`, exceptions
    // caught, failures logged and counted. Returns false if it failed.
    bool runGuarded(const std::string& extension, const std::string& point, HookPolicy policy,
                    const std::function<void()>& fn) const;

    // Per extension and hook/command: calls, failures, overruns, rejections.
    nlohmann::json stats() const;

  private:
    struct Counters {
        std::atomic<uint64_t> calls{0};
        std::atomic<uint64_t> failures{0};
        std::atomic<uint64_t> overruns{0};
        std::atomic<uint64_t> rejections{0};
    };
    struct Entry {
        Token token = 0;
        std::string extension;
        size_t order = 0;
        HookFunction hookHandler;
        CommandFunction commandHandler;
        std::shared_ptr<Counters> counters;
        bool takesBytes = false;
    };
    struct Table {
        std::array<std::vector<Entry>, kHookCount> hooks;
        std::unordered_map<std::string, std::vector<Entry>> commands;
    };

    static size_t index(Hook hook) { return static_cast<size_t>(hook) - 1; }
    size_t orderOf(const std::string& extension) const;
    std::shared_ptr<Counters> countersFor(const std::string& extension,
                                          const std::string& point) const;
    void validateOp(const std::string& op) const;
    // Applies `change` to a copy of the table and publishes it. Call with writeMutex_ held.
    template <typename Change>
    void update(Change&& change);
    // Times one call and turns exceptions and overruns into Verdict::Kind::Fail.
    template <typename Call>
    Verdict timed(const Entry& entry, const std::string& point, std::chrono::milliseconds budget,
                  Call&& call) const;

    std::mutex writeMutex_;
    std::atomic<std::shared_ptr<const Table>> table_;
    std::atomic<uint32_t> mask_{0};
    std::atomic<Token> nextToken_{1};
    std::vector<std::string> extensionOrder_;
    std::set<std::string> reservedOps_;
    std::array<HookPolicy, kHookCount> policies_{};
    HookPolicy commandPolicy_{std::chrono::milliseconds(1000), true};
    HookPolicy timerPolicy_{std::chrono::milliseconds(1000), false};
    mutable std::mutex countersMutex_;
    mutable std::map<std::pair<std::string, std::string>, std::shared_ptr<Counters>> counters_;
};

}  // namespace parley
