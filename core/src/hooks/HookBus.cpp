#include "hooks/HookBus.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace parley {

namespace {
using Clock = std::chrono::steady_clock;

std::string pointOf(Hook hook) {
    return std::string(hookName(hook));
}
std::string pointOf(const std::string& op) {
    return "command " + op;
}
}  // namespace

HookBus::HookBus() : table_(std::make_shared<const Table>()) {}

void HookBus::setExtensionOrder(const std::vector<std::string>& extensions) {
    std::lock_guard lock(writeMutex_);
    extensionOrder_ = extensions;
}

void HookBus::setPolicy(Hook hook, HookPolicy policy) {
    policies_[index(hook)] = policy;
}

void HookBus::setReservedOps(std::set<std::string> ops) {
    std::lock_guard lock(writeMutex_);
    reservedOps_ = std::move(ops);
}

size_t HookBus::orderOf(const std::string& extension) const {
    auto found = std::find(extensionOrder_.begin(), extensionOrder_.end(), extension);
    return found == extensionOrder_.end() ? std::numeric_limits<size_t>::max()
                                          : static_cast<size_t>(found - extensionOrder_.begin());
}

std::shared_ptr<HookBus::Counters> HookBus::countersFor(const std::string& extension,
                                                        const std::string& point) const {
    std::lock_guard lock(countersMutex_);
    auto& counters = counters_[{extension, point}];
    if (!counters) {
        counters = std::make_shared<Counters>();
    }
    return counters;
}

void HookBus::validateOp(const std::string& op) const {
    const bool wellFormed = !op.empty() && op.size() <= 64 && op.find('.') != std::string::npos &&
                            std::all_of(op.begin(), op.end(), [](char c) {
                                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                       c == '.' || c == '_' || c == '-';
                            });
    if (!wellFormed) {
        throw std::invalid_argument("op '" + op +
                                    "' must be 1-64 characters from a-z 0-9 . _ - with a '.'");
    }
    if (reservedOps_.count(op) > 0) {
        throw std::invalid_argument("op '" + op + "' is one of parleyd's own");
    }
}

template <typename Change>
void HookBus::update(Change&& change) {
    auto next = std::make_shared<Table>(*table_.load());
    change(*next);
    const auto byOrder = [](const Entry& a, const Entry& b) {
        return a.order != b.order ? a.order < b.order : a.token < b.token;
    };
    uint32_t mask = 0;
    for (size_t i = 0; i < next->hooks.size(); ++i) {
        std::stable_sort(next->hooks[i].begin(), next->hooks[i].end(), byOrder);
        if (!next->hooks[i].empty()) {
            mask |= 1U << i;
        }
    }
    for (auto it = next->commands.begin(); it != next->commands.end();) {
        std::stable_sort(it->second.begin(), it->second.end(), byOrder);
        it = it->second.empty() ? next->commands.erase(it) : std::next(it);
    }
    table_.store(std::move(next), std::memory_order_release);
    mask_.store(mask, std::memory_order_release);
}

HookBus::Token HookBus::add(Hook hook, const std::string& extension, HookFunction handler) {
    std::lock_guard lock(writeMutex_);
    Entry entry{nextToken_++,       extension, orderOf(extension),
                std::move(handler), {},        countersFor(extension, pointOf(hook))};
    const Token token = entry.token;
    update([&](Table& table) { table.hooks[index(hook)].push_back(std::move(entry)); });
    return token;
}

HookBus::Token HookBus::addCommand(const std::string& op, const std::string& extension,
                                   CommandFunction handler, bool takesBytes) {
    std::lock_guard lock(writeMutex_);
    validateOp(op);
    Entry entry{nextToken_++, extension,          orderOf(extension),
                {},           std::move(handler), countersFor(extension, pointOf(op)),
                takesBytes};
    const Token token = entry.token;
    update([&](Table& table) { table.commands[op].push_back(std::move(entry)); });
    return token;
}

bool HookBus::remove(Token token) {
    std::lock_guard lock(writeMutex_);
    bool removed = false;
    update([&](Table& table) {
        const auto matches = [&](const Entry& e) { return e.token == token; };
        for (auto& chain : table.hooks) {
            removed = std::erase_if(chain, matches) > 0 || removed;
        }
        for (auto& [op, chain] : table.commands) {
            removed = std::erase_if(chain, matches) > 0 || removed;
        }
    });
    return removed;
}

void HookBus::removeExtension(const std::string& extension) {
    replaceExtension(extension, {});
}

void HookBus::replaceExtension(const std::string& extension,
                               std::vector<Registration> registrations) {
    std::lock_guard lock(writeMutex_);
    for (const auto& registration : registrations) {
        if (!registration.hook) {
            validateOp(registration.op);
        }
    }
    std::vector<std::pair<std::optional<Hook>, Entry>> entries;
    for (auto& registration : registrations) {
        const std::string point =
            registration.hook ? pointOf(*registration.hook) : pointOf(registration.op);
        entries.push_back(
            {registration.hook,
             Entry{nextToken_++, extension, orderOf(extension), std::move(registration.hookHandler),
                   std::move(registration.commandHandler), countersFor(extension, point), false}});
    }
    update([&](Table& table) {
        const auto mine = [&](const Entry& e) { return e.extension == extension; };
        for (auto& chain : table.hooks) {
            std::erase_if(chain, mine);
        }
        for (auto& [op, chain] : table.commands) {
            std::erase_if(chain, mine);
        }
        for (size_t i = 0; i < entries.size(); ++i) {
            auto& [hook, entry] = entries[i];
            if (hook) {
                table.hooks[index(*hook)].push_back(std::move(entry));
            } else {
                table.commands[registrations[i].op].push_back(std::move(entry));
            }
        }
    });
}

bool HookBus::hasCommand(const std::string& op) const {
    return table_.load(std::memory_order_acquire)->commands.count(op) > 0;
}

bool HookBus::commandTakesBytes(const std::string& op) const {
    const auto table = table_.load(std::memory_order_acquire);
    const auto found = table->commands.find(op);
    return found != table->commands.end() &&
           std::any_of(found->second.begin(), found->second.end(),
                       [](const Entry& entry) { return entry.takesBytes; });
}

template <typename Call>
Verdict HookBus::timed(const Entry& entry, const std::string& point,
                       std::chrono::milliseconds budget, Call&& call) const {
    const auto started = Clock::now();
    Verdict verdict;
    try {
        verdict = call();
    } catch (const std::exception& error) {
        verdict = Verdict::fail(std::string("threw: ") + error.what());
    } catch (...) {
        verdict = Verdict::fail("threw an exception that is not a std::exception");
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    entry.counters->calls.fetch_add(1, std::memory_order_relaxed);
    if (took > budget && verdict.kind != Verdict::Kind::Fail) {
        entry.counters->overruns.fetch_add(1, std::memory_order_relaxed);
        verdict =
            Verdict::fail("took " + std::to_string(took.count()) + " ms, over its budget of " +
                          std::to_string(budget.count()) + " ms");
    }
    if (verdict.kind == Verdict::Kind::Fail) {
        entry.counters->failures.fetch_add(1, std::memory_order_relaxed);
        spdlog::error("extension '{}' failed in {}: {}", entry.extension, point, verdict.message);
    } else if (verdict.kind == Verdict::Kind::Reject) {
        entry.counters->rejections.fetch_add(1, std::memory_order_relaxed);
    }
    return verdict;
}

void HookBus::run(Hook hook, const HookPayload& payload) const {
    if (!has(hook)) {
        return;
    }
    const auto table = table_.load(std::memory_order_acquire);
    const HookPolicy policy = policies_[index(hook)];
    const std::string point = pointOf(hook);
    MessageDraft* draft = nullptr;
    if (const auto* drafted = std::get_if<MessageDraft*>(&payload)) {
        draft = *drafted;
    }
    DeliveryDraft* delivery = nullptr;
    if (const auto* drafted = std::get_if<DeliveryDraft*>(&payload)) {
        delivery = *drafted;
    }
    for (const auto& entry : table->hooks[index(hook)]) {
        // A failed handler's half-done rewrite must not stick.
        std::optional<MessageDraft> before;
        if (draft != nullptr) {
            before = *draft;
        }
        std::optional<std::vector<std::string>> recipientsBefore;
        if (delivery != nullptr) {
            if (delivery->recipients.empty()) {
                return;  // nobody left to decide about
            }
            recipientsBefore = delivery->recipients;
        }
        const Verdict verdict = timed(entry, point, policy.budget,
                                      [&] { return entry.hookHandler(payload, policy.budget); });
        switch (verdict.kind) {
            case Verdict::Kind::Reject:
                if (hookMayReject(hook)) {
                    throw ProtocolError(verdict.code, verdict.message, verdict.details);
                }
                spdlog::warn("extension '{}' tried to reject in {}, which cannot be rejected",
                             entry.extension, point);
                break;
            case Verdict::Kind::Fail:
                if (draft != nullptr) {
                    *draft = std::move(*before);
                }
                if (delivery != nullptr) {
                    delivery->recipients = std::move(*recipientsBefore);
                    if (policy.failClosed) {
                        // A handler that hides events from someone failed: hide it from all.
                        delivery->recipients.clear();
                        return;
                    }
                }
                if (policy.failClosed && hookMayReject(hook)) {
                    throw ProtocolError(ErrorCode::Internal,
                                        "refused: extension '" + entry.extension + "' failed");
                }
                break;
            default:
                break;
        }
    }
}

void HookBus::afterMessageStore(const store::MessageRecord& message,
                                const std::vector<std::string>& members) const {
    if (has(Hook::MessageAfterStore)) {
        const StoredMessage stored{message, members};
        run(Hook::MessageAfterStore, &stored);
    }
}

void HookBus::afterMessageDelete(const store::MessageRecord& message,
                                 const std::vector<std::string>& members,
                                 const std::string& deletedBy) const {
    if (has(Hook::MessageAfterDelete)) {
        const StoredMessage stored{message, members, deletedBy};
        run(Hook::MessageAfterDelete, &stored);
    }
}

void HookBus::afterRead(const std::string& conv, const std::string& uid, int64_t readSeq) const {
    if (has(Hook::ReadAfter)) {
        const ReadMoved moved{conv, uid, readSeq};
        run(Hook::ReadAfter, &moved);
    }
}

void HookBus::presenceChanged(const store::PresenceRecord& presence,
                              store::PresenceState previous) const {
    run(Hook::PresenceChanged, &presence);
    if (previous == store::PresenceState::Offline && presence.state != previous) {
        run(Hook::UserConnected, &presence);
    } else if (presence.state == store::PresenceState::Offline && previous != presence.state) {
        run(Hook::UserDisconnected, &presence);
    }
}

std::optional<CommandAnswer> HookBus::runCommand(const CommandCall& call) const {
    const auto table = table_.load(std::memory_order_acquire);
    auto found = table->commands.find(call.command.op);
    if (found == table->commands.end()) {
        return std::nullopt;
    }
    const std::string point = pointOf(call.command.op);
    for (const auto& entry : found->second) {
        if (call.command.bytes && !entry.takesBytes) {
            continue;
        }
        Verdict verdict = timed(entry, point, commandPolicy_.budget,
                                [&] { return entry.commandHandler(call, commandPolicy_.budget); });
        switch (verdict.kind) {
            case Verdict::Kind::Defer:
                continue;
            case Verdict::Kind::Reply:
                return CommandAnswer{std::move(verdict.reply), std::move(verdict.replyBytes)};
            case Verdict::Kind::Continue:
                return CommandAnswer{};
            case Verdict::Kind::Reject:
                throw ProtocolError(verdict.code, verdict.message, verdict.details);
            case Verdict::Kind::Fail:
                throw ProtocolError(ErrorCode::Internal,
                                    "extension '" + entry.extension + "' failed");
        }
    }
    return std::nullopt;
}

bool HookBus::runGuarded(const std::string& extension, const std::string& point, HookPolicy policy,
                         const std::function<void()>& fn) const {
    Entry entry;
    entry.extension = extension;
    entry.counters = countersFor(extension, point);
    const Verdict verdict = timed(entry, point, policy.budget, [&] {
        fn();
        return Verdict::proceed();
    });
    return verdict.kind != Verdict::Kind::Fail;
}

nlohmann::json HookBus::stats() const {
    std::lock_guard lock(countersMutex_);
    nlohmann::json all = nlohmann::json::array();
    for (const auto& [key, counters] : counters_) {
        all.push_back({{"extension", key.first},
                       {"point", key.second},
                       {"calls", counters->calls.load()},
                       {"failures", counters->failures.load()},
                       {"overruns", counters->overruns.load()},
                       {"rejections", counters->rejections.load()}});
    }
    return all;
}

}  // namespace parley
