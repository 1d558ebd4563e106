#include "lua/LuaScript.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include "chat/MessageLimits.h"
#include "extensions/Extension.h"
#include "extensions/ExtensionCallScope.h"
#include "lua/LuaApi.h"
#include "lua/LuaJson.h"
#include "lua/LuaRunner.h"
#include "lua/LuaSandbox.h"
#include "lua/LuaSupport.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "util/Utf8.h"

namespace parley {

namespace {

// Budgets of the calls that are not hooks, commands or timers.
constexpr std::chrono::milliseconds kLoadBudget{2000};
constexpr std::chrono::milliseconds kCloseBudget{1000};
constexpr size_t kMaxRejectMessageCharacters = 500;

// Bodies of the protected calls. Each runs inside lua_pcall and may raise; the only C++ objects
// it touches belong to its context, which lives in the caller's frame, outside the pcall.

struct LoadContext {
    std::string source;
    std::string chunkName;
};

int loadBody(lua_State* L) {
    const auto& context = *static_cast<const LoadContext*>(lua_touserdata(L, 1));
    lua::openSandbox(L);
    lua::installApi(L);
    if (luaL_loadbufferx(L, context.source.data(), context.source.size(), context.chunkName.c_str(),
                         "t") != LUA_OK) {
        return lua_error(L);
    }
    lua::pushEnvironment(L);
    if (lua_setupvalue(L, -2, 1) == nullptr) {
        lua_pop(L, 1);
    }
    lua_call(L, 0, 0);
    return 0;
}

// What a hook or command handler may return: a verdict (nil, false, a table, parley.DEFER), and
// after false a code, a message and the error's details.
constexpr int kHandlerResults = 4;

std::string stringAt(lua_State* L, int index) {
    size_t length = 0;
    const char* text = lua_tolstring(L, index, &length);  // callers check it is a string
    return std::string(text, length);
}

// Reads `return false, code, message, details` at `first`; throws when malformed (the call
// fails).
Verdict rejection(lua_State* L, int first) {
    ErrorCode code = ErrorCode::Forbidden;
    if (lua_type(L, first + 1) == LUA_TSTRING) {
        const std::string name = stringAt(L, first + 1);
        const auto known = rejectionCodeByName(name);
        if (!known) {
            throw std::invalid_argument("rejected with the unknown error code '" + name + "'");
        }
        code = *known;
    } else if (!lua_isnoneornil(L, first + 1)) {
        throw std::invalid_argument("the rejection's code must be a string");
    }
    std::string message = "refused";
    if (lua_type(L, first + 2) == LUA_TSTRING) {
        message = stringAt(L, first + 2);
        message = isValidUtf8(message) ? utf8Prefix(message, kMaxRejectMessageCharacters)
                                       : std::string("refused");
    } else if (!lua_isnoneornil(L, first + 2)) {
        throw std::invalid_argument("the rejection's message must be a string");
    }
    nlohmann::json details = nlohmann::json::object();
    if (lua_type(L, first + 3) == LUA_TTABLE) {
        try {
            details = lua::toJson(L, first + 3);
        } catch (const lua::JsonConversionError& error) {
            throw std::invalid_argument(std::string("the rejection's details: ") + error.what());
        }
        details = rejectionDetails(std::move(details));
    } else if (!lua_isnoneornil(L, first + 3)) {
        throw std::invalid_argument("the rejection's details must be a table");
    }
    return Verdict::reject(code, std::move(message), std::move(details));
}

struct HookContext {
    int functionRef = LUA_NOREF;
    nlohmann::json event;
    bool mayReject = false;
    bool rewrites = false;  // message.before_store: event.body and event.meta are read back
    // event.before_deliver: event.recipients is read back, at most this many entries.
    bool dropsRecipients = false;
    size_t recipientCount = 0;
    Verdict verdict;
    std::string body;
    nlohmann::json meta;
    std::vector<std::string> recipients;
};

// event.recipients as the handler left it: a sequence of at most context.recipientCount strings
// (it may only lose entries). Reads raw, converts nothing: no raise.
void readRecipients(lua_State* L, HookContext& context, int index) {
    if (lua_type(L, index) != LUA_TTABLE) {
        throw std::invalid_argument(std::string("event.recipients must be a table, not ") +
                                    luaL_typename(L, index));
    }
    const lua_Unsigned count = lua_rawlen(L, index);
    if (count > context.recipientCount) {
        throw std::invalid_argument("event.recipients may only lose entries, never gain any");
    }
    for (lua_Unsigned i = 1; i <= count; ++i) {
        lua_rawgeti(L, index, static_cast<lua_Integer>(i));
        if (lua_type(L, -1) != LUA_TSTRING) {
            const std::string type = luaL_typename(L, -1);
            lua_pop(L, 1);
            throw std::invalid_argument("event.recipients must hold user ids, not a " + type);
        }
        context.recipients.push_back(stringAt(L, -1));
        lua_pop(L, 1);
    }
}

// Turns what the handler left on the stack into the context's verdict. Reads only: no raise.
void readHookResults(lua_State* L, HookContext& context, int results) noexcept {
    try {
        if (context.mayReject && lua_type(L, results) == LUA_TBOOLEAN &&
            !lua_toboolean(L, results)) {
            context.verdict = rejection(L, results);
            return;
        }
        if (context.rewrites) {
            const int body = results + kHandlerResults;
            const int meta = body + 1;
            if (lua_type(L, body) != LUA_TSTRING) {
                throw std::invalid_argument(std::string("event.body must be a string, not ") +
                                            luaL_typename(L, body));
            }
            context.body = stringAt(L, body);
            if (lua_istable(L, meta)) {
                context.meta = lua::toJson(L, meta);
                if (!context.meta.is_object()) {
                    throw std::invalid_argument("event.meta must be a table with string keys");
                }
            } else if (!lua_isnil(L, meta)) {
                throw std::invalid_argument(std::string("event.meta must be a table or nil, not ") +
                                            luaL_typename(L, meta));
            }
        }
        if (context.dropsRecipients) {
            readRecipients(L, context, results + kHandlerResults);
        }
    } catch (const std::exception& error) {
        context.verdict = Verdict::fail(error.what());
    } catch (...) {
        context.verdict = Verdict::fail("unknown exception");
    }
}

int hookBody(lua_State* L) {
    auto& context = *static_cast<HookContext*>(lua_touserdata(L, 1));
    lua::pushJson(L, context.event);  // 2: the event, kept to read the rewrite back
    lua_rawgeti(L, LUA_REGISTRYINDEX, context.functionRef);
    lua_pushvalue(L, 2);
    lua_call(L, 1, kHandlerResults);  // 3, 4, 5, 6: what the handler returned
    if (context.rewrites) {
        lua_pushliteral(L, "body");  // raw reads: a metatable of the script's must not run here
        lua_rawget(L, 2);
        lua_pushliteral(L, "meta");
        lua_rawget(L, 2);
    } else if (context.dropsRecipients) {
        lua_pushliteral(L, "recipients");
        lua_rawget(L, 2);
    }
    readHookResults(L, context, 3);
    return 0;
}

struct CommandContext {
    int functionRef = LUA_NOREF;
    nlohmann::json args;
    std::string uid;
    bool isAdmin = false;
    Verdict verdict;
};

void readCommandResults(lua_State* L, CommandContext& context, int results) noexcept {
    try {
        switch (lua_type(L, results)) {
            case LUA_TLIGHTUSERDATA:
                if (lua_touserdata(L, results) == &lua::kDeferSentinel) {
                    context.verdict = Verdict::defer();
                    return;
                }
                break;
            case LUA_TBOOLEAN:
                context.verdict = lua_toboolean(L, results)
                                      ? Verdict::replyWith(nlohmann::json::object())
                                      : rejection(L, results);
                return;
            case LUA_TNIL:
                context.verdict = Verdict::replyWith(nlohmann::json::object());
                return;
            case LUA_TTABLE: {
                nlohmann::json reply = lua::toJson(L, results);
                if (!reply.is_object()) {
                    throw std::invalid_argument("a reply must be a table with string keys");
                }
                context.verdict = Verdict::replyWith(std::move(reply));
                return;
            }
            default:
                break;
        }
        throw std::invalid_argument(std::string("a command handler returns a table, false, "
                                                "parley.DEFER or nothing, not a ") +
                                    luaL_typename(L, results));
    } catch (const std::exception& error) {
        context.verdict = Verdict::fail(error.what());
    } catch (...) {
        context.verdict = Verdict::fail("unknown exception");
    }
}

int commandBody(lua_State* L) {
    auto& context = *static_cast<CommandContext*>(lua_touserdata(L, 1));
    lua_rawgeti(L, LUA_REGISTRYINDEX, context.functionRef);
    lua::pushJson(L, context.args);
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, context.uid.data(), context.uid.size());
    lua_setfield(L, -2, "user");
    lua_pushboolean(L, context.isAdmin ? 1 : 0);
    lua_setfield(L, -2, "admin");
    lua_call(L, 2, kHandlerResults);  // 2, 3, 4, 5
    readCommandResults(L, context, 2);
    return 0;
}

struct TimerContext {
    int64_t timerId = 0;
    bool once = false;
};

int timerBody(lua_State* L) {
    const auto& context = *static_cast<const TimerContext*>(lua_touserdata(L, 1));
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lua::kTimersKey);  // 2
    lua_rawgeti(L, 2, context.timerId);                   // 3
    if (context.once) {
        lua_pushnil(L);
        lua_rawseti(L, 2, context.timerId);
    }
    if (lua_type(L, 3) == LUA_TFUNCTION) {
        lua_call(L, 0, 0);
    }
    return 0;
}

// {type, id, title, status} (null fields are absent in Lua), or null.
nlohmann::json contextJson(const std::optional<store::ContextRef>& context) {
    if (!context) {
        return nullptr;
    }
    const auto orNull = [](const std::optional<std::string>& text) {
        return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
    };
    return {{"type", context->type},
            {"id", context->id},
            {"title", orNull(context->title)},
            {"status", orNull(context->status)}};
}

// What a handler of `hook` sees, as JSON (pushed as tables; JSON null fields are absent).
nlohmann::json eventOf(Hook hook, const HookPayload& payload) {
    switch (hook) {
        case Hook::MessageBeforeStore:
        case Hook::MessageBeforeEdit: {
            const MessageDraft& draft = *std::get<MessageDraft*>(payload);
            nlohmann::json event = {{"sender", draft.sender},
                                    {"conv", draft.conv},
                                    {"cmid", draft.cmid},
                                    {"body", draft.body},
                                    {"meta", draft.meta},
                                    {"kind", store::conversationKindName(draft.kind)},
                                    {"context", contextJson(draft.context)},
                                    {"members", draft.members},
                                    {"last_seq", draft.lastSeq},
                                    {"attachments", draft.attachments}};
            if (hook == Hook::MessageBeforeEdit) {
                event["seq"] = draft.editOf;
            }
            return event;
        }
        case Hook::MessageAfterStore:
        case Hook::MessageAfterDelete: {
            const StoredMessage& stored = *std::get<const StoredMessage*>(payload);
            nlohmann::json event = messageJson(stored.message);
            event["members"] = stored.members;
            if (hook == Hook::MessageAfterDelete) {
                event["deleted_by"] = std::string(stored.deletedBy);
            }
            return event;
        }
        case Hook::ConversationBeforeCreate: {
            const ConversationDraft& draft = *std::get<const ConversationDraft*>(payload);
            return {{"creator", draft.creator},
                    {"kind", store::conversationKindName(draft.kind)},
                    {"members", draft.members},
                    {"title", draft.title ? nlohmann::json(*draft.title) : nlohmann::json(nullptr)},
                    {"context", contextJson(draft.context)}};
        }
        case Hook::ConversationAfterCreate: {
            nlohmann::json summary =
                summaryJson(*std::get<const store::ConversationRecord*>(payload), "");
            summary.erase("read_seq");  // of no viewer
            summary.erase("unread");
            return summary;
        }
        case Hook::ReadAfter: {
            const ReadMoved& moved = *std::get<const ReadMoved*>(payload);
            return {{"conv", moved.conv}, {"user", moved.uid}, {"seq", moved.readSeq}};
        }
        case Hook::PresenceChanged:
        case Hook::UserConnected:
        case Hook::UserDisconnected:
            return presenceJson(*std::get<const store::PresenceRecord*>(payload));
        case Hook::ConversationBeforeOpen: {
            const ConversationDraft& draft = *std::get<const ConversationDraft*>(payload);
            return {{"user", draft.creator},
                    {"conv", draft.conv ? nlohmann::json(*draft.conv) : nlohmann::json(nullptr)},
                    {"kind", store::conversationKindName(draft.kind)},
                    {"members", draft.members},
                    {"context", contextJson(draft.context)}};
        }
        case Hook::EventBeforeDeliver: {
            const DeliveryDraft& delivery = *std::get<DeliveryDraft*>(payload);
            return {{"kind", delivery.kind},
                    {"conv", delivery.conv},
                    {"user", delivery.uid},
                    {"event", delivery.event},
                    {"recipients", delivery.recipients}};
        }
    }
    return nlohmann::json::object();
}

// Keeps of delivery.recipients those in `kept`, in their order; fails if `kept` names anyone
// else (a handler may hide an event, never send it further).
Verdict keepRecipients(DeliveryDraft& delivery, const std::vector<std::string>& kept) {
    const std::unordered_set<std::string_view> keep(kept.begin(), kept.end());
    const std::unordered_set<std::string_view> known(delivery.recipients.begin(),
                                                     delivery.recipients.end());
    for (const auto& uid : kept) {
        if (known.count(uid) == 0) {
            return Verdict::fail("event.recipients may only lose entries: '" + uid +
                                 "' was not a recipient");
        }
    }
    std::erase_if(delivery.recipients,
                  [&](const std::string& uid) { return keep.count(uid) == 0; });
    return Verdict::proceed();
}

// A rewrite of message.before_store must be a message parleyd would have accepted.
std::optional<std::string> rewriteProblem(const ChatRules& rules, const std::string& body,
                                          const nlohmann::json& meta) {
    if (auto problem = messageProblem(rules.limits, body, meta)) {
        return "the rewritten message: " + problem->message;
    }
    return std::nullopt;
}

}  // namespace

LuaScript& LuaScript::of(lua_State* L) {
    return **static_cast<LuaScript**>(lua_getextraspace(L));
}

LuaScript::LuaScript(Settings settings, ExtensionServices& services)
    : settings_(std::move(settings)), services_(services) {}

LuaScript::~LuaScript() {
    close();
    if (disabled()) {
        // Kept for ever: an abandoned thread may still be running on it.
        static_cast<void>(state_.release());
    }
}

std::string LuaScript::describe(const std::string& error) const {
    // Lua's own messages already start with "<path>:<line>:".
    return error.rfind(settings_.path, 0) == 0 ? error : settings_.path + ": " + error;
}

void LuaScript::load() {
    std::ifstream file(settings_.path, std::ios::binary);
    if (!file) {
        throw ExtensionError(settings_.path + ": cannot read the script");
    }
    std::ostringstream source;
    source << file.rdbuf();
    auto context = std::make_shared<LoadContext>(LoadContext{source.str(), "@" + settings_.path});
    {
        std::lock_guard lock(mutex_);
        try {
            state_ =
                std::make_unique<LuaState>(settings_.memoryLimitBytes, settings_.instructionLimit);
        } catch (const std::exception& error) {
            throw ExtensionError(settings_.path + ": " + error.what());
        }
        // Coroutines copy the main thread's extra space: every thread of the state finds us.
        *static_cast<LuaScript**>(lua_getextraspace(state_->get())) = this;
        loading_ = true;
    }
    const Outcome outcome = enter(&loadBody, context, kLoadBudget, {"load", ""});
    if (disabled()) {
        // Abandoned: the lost thread holds the state (and its mutex) for good.
        throw ExtensionError(describe(outcome.error));
    }
    std::lock_guard lock(mutex_);
    loading_ = false;
    if (outcome.entry != Entry::Ran) {
        registrations_.clear();
        timers_.clear();
        state_->close(kCloseBudget);
        throw ExtensionError(describe(outcome.error));
    }
}

void LuaScript::addHook(Hook hook, int functionRef) {
    registrations_.push_back(Registration{hook, {}, functionRef});
}

void LuaScript::addCommand(const std::string& op, int functionRef) {
    registrations_.push_back(Registration{std::nullopt, op, functionRef});
}

std::vector<HookBus::Registration> LuaScript::registrations() {
    std::lock_guard lock(mutex_);
    std::vector<HookBus::Registration> result;
    auto self = shared_from_this();
    for (const auto& registration : registrations_) {
        HookBus::Registration entry;
        entry.hook = registration.hook;
        entry.op = registration.op;
        const int functionRef = registration.functionRef;
        if (registration.hook) {
            const Hook hook = *registration.hook;
            entry.hookHandler = [self, hook, functionRef](const HookPayload& payload,
                                                          std::chrono::milliseconds budget) {
                return self->callHook(hook, functionRef, payload, budget);
            };
        } else {
            entry.commandHandler = [self, functionRef](const CommandCall& call,
                                                       std::chrono::milliseconds budget) {
                return self->callCommand(functionRef, call, budget);
            };
        }
        result.push_back(std::move(entry));
    }
    return result;
}

void LuaScript::startTimers() {
    std::lock_guard lock(mutex_);
    for (auto& [timerId, timer] : timers_) {
        if (timer.serviceId == 0) {
            const int64_t id = timerId;
            timer.serviceId =
                services_.addTimer(settings_.name, timer.delayMs, timer.periodMs,
                                   [self = shared_from_this(), id] { self->fireTimer(id); });
        }
    }
}

void LuaScript::scheduleTimer(int64_t timerId, int64_t delayMs, int64_t periodMs) {
    std::lock_guard lock(mutex_);
    Timer& timer = timers_[timerId];
    timer.delayMs = delayMs;
    timer.periodMs = periodMs;
    if (loading_) {
        return;  // started by startTimers() once this version is the live one
    }
    try {
        timer.serviceId =
            services_.addTimer(settings_.name, delayMs, periodMs,
                               [self = shared_from_this(), timerId] { self->fireTimer(timerId); });
    } catch (...) {
        timers_.erase(timerId);
        throw;
    }
}

bool LuaScript::cancelTimer(int64_t timerId) {
    std::lock_guard lock(mutex_);
    auto found = timers_.find(timerId);
    if (found == timers_.end()) {
        return false;
    }
    if (found->second.serviceId != 0) {
        services_.cancelTimer(settings_.name, found->second.serviceId);
    }
    timers_.erase(found);
    return true;
}

lua_State* LuaScript::swapActiveThread(lua_State* thread) {
    lua_State* previous = activeThread_;
    activeThread_ = thread;
    return previous;
}

void LuaScript::close() {
    std::unique_lock lock(mutex_, std::defer_lock);
    while (!lock.try_lock_for(std::chrono::milliseconds(50))) {
        if (disabled()) {
            // The abandoned thread holds the mutex and the state for good; it never touches the
            // timers again (its next parley.* call raises).
            for (const auto& [timerId, timer] : timers_) {
                if (timer.serviceId != 0) {
                    services_.cancelTimer(settings_.name, timer.serviceId);
                }
            }
            timers_.clear();
            return;
        }
    }
    retired_ = true;
    // Only this version's timers: the extension's next version may have started its own.
    for (const auto& [timerId, timer] : timers_) {
        if (timer.serviceId != 0) {
            services_.cancelTimer(settings_.name, timer.serviceId);
        }
    }
    timers_.clear();
    if (state_) {
        state_->close(kCloseBudget);
    }
}

LuaScript::Outcome LuaScript::enter(lua_CFunction body, std::shared_ptr<void> context,
                                    std::chrono::milliseconds budget, CallLabel label) {
    if (disabled()) {
        return {Entry::Failed, disabledError()};
    }
    auto result = std::make_shared<Outcome>();
    const auto giveUpAt = std::chrono::steady_clock::now() + budget +
                          std::max(budget, std::chrono::milliseconds(1000));
    const bool returned =
        LuaRunner::run([self = shared_from_this(), body, context, budget, label,
                        result] { *result = self->enterHere(body, context.get(), budget, label); },
                       giveUpAt,
                       [&](const std::vector<LuaScript*>& chain, std::chrono::milliseconds ran) {
                           abandoned(chain, label, budget, ran);
                       });
    if (!returned) {
        return {Entry::Failed, disabledError()};
    }
    return *result;
}

LuaScript::Outcome LuaScript::enterHere(lua_CFunction body, void* context,
                                        std::chrono::milliseconds budget, const CallLabel& label) {
    std::unique_lock lock(mutex_, std::defer_lock);
    if (!lock.try_lock_for(budget)) {
        return {Entry::Busy, "busy: another call of the script held it for the whole budget of " +
                                 std::to_string(budget.count()) + " ms"};
    }
    if (disabled()) {
        return {Entry::Failed, disabledError()};
    }
    if (retired_ || !state_ || !state_->isOpen()) {
        return {Entry::Retired, {}};
    }
    lua_State* L = (depth_ > 0 && activeThread_ != nullptr) ? activeThread_ : state_->get();
    if (!lua_checkstack(L, 3)) {
        return {Entry::Failed, "Lua stack exhausted"};
    }
    LuaBudget& limits = state_->budget();
    const bool outermost = depth_ == 0;
    if (outermost) {
        limits.start(budget);
    }
    const int base = lua_gettop(L);
    const ExtensionCallScope running("script", settings_.name, label.point,
                                     label.detail.empty() ? nullptr : label.detail.c_str());
    LuaRunner* runner = LuaRunner::current();
    ++depth_;
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, context);
    if (runner != nullptr) {
        runner->enterLua(this);
    }
    const int status = lua_pcall(L, 1, 0, 0);
    if (runner != nullptr) {
        runner->leaveLua();  // never returns if the call was abandoned meanwhile
    }
    --depth_;
    Outcome outcome;
    if (limits.stopReason() != nullptr) {
        // Whatever error the script saw last, the call ended because the budget was spent.
        outcome = {Entry::Failed, limits.stopReason()};
    } else if (status != LUA_OK) {
        outcome = {Entry::Failed, lua::errorObjectText(L, -1)};
    }
    lua_settop(L, base);
    if (outermost) {
        limits.finish();
    }
    return outcome;
}

void LuaScript::abandoned(const std::vector<LuaScript*>& chain, const CallLabel& label,
                          std::chrono::milliseconds budget, std::chrono::milliseconds ran) {
    if (chain.empty()) {
        return;
    }
    LuaScript& stuck = *chain.back();
    stuck.disable("its call (" + label.text() + ") ran " + std::to_string(ran.count()) +
                  " ms, far past its budget of " + std::to_string(budget.count()) +
                  " ms, without coming back: stuck where no budget reaches (a C function, or "
                  "one instruction on a huge value). Its thread is abandoned, with the script's "
                  "memory, until parleyd restarts; admin.reload or SIGHUP loads the script again");
    for (size_t i = 0; i + 1 < chain.size(); ++i) {
        chain[i]->disable("a call of script '" + stuck.name() +
                          "' that it was waiting for got stuck and was abandoned, with its own "
                          "state; admin.reload or SIGHUP loads the script again");
    }
}

void LuaScript::disable(const std::string& reason) {
    {
        std::lock_guard lock(statusMutex_);
        if (disabled()) {
            return;
        }
        disabledReason_ = reason;
        disabledSinceMs_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
        disabled_.store(true, std::memory_order_release);
    }
    if (state_) {
        // Should the lost thread ever get back to an instruction, it raises there.
        state_->budget().abandon();
    }
    spdlog::error("script '{}' disabled: {}", settings_.name, reason);
}

std::string LuaScript::disabledError() const {
    std::lock_guard lock(statusMutex_);
    return "disabled: " + disabledReason_;
}

nlohmann::json LuaScript::status() const {
    std::lock_guard lock(statusMutex_);
    if (!disabled()) {
        return {{"state", "running"}};
    }
    return {{"state", "disabled"}, {"reason", disabledReason_}, {"since_ms", disabledSinceMs_}};
}

Verdict LuaScript::callHook(Hook hook, int functionRef, const HookPayload& payload,
                            std::chrono::milliseconds budget) {
    auto shared = std::make_shared<HookContext>();
    HookContext& context = *shared;
    context.functionRef = functionRef;
    context.event = eventOf(hook, payload);
    context.mayReject = hookMayReject(hook);
    context.rewrites = hook == Hook::MessageBeforeStore || hook == Hook::MessageBeforeEdit;
    DeliveryDraft* delivery = nullptr;
    if (hook == Hook::EventBeforeDeliver) {
        delivery = std::get<DeliveryDraft*>(payload);
        context.dropsRecipients = true;
        context.recipientCount = delivery->recipients.size();
    }
    const Outcome outcome = enter(&hookBody, shared, budget, {"hook", std::string(hookName(hook))});
    switch (outcome.entry) {
        case Entry::Retired:
            return Verdict::proceed();  // replaced by a reload while this call waited
        case Entry::Failed:
        case Entry::Busy:
            return Verdict::fail(outcome.error);
        case Entry::Ran:
            break;
    }
    if (context.verdict.kind == Verdict::Kind::Continue && delivery != nullptr) {
        return keepRecipients(*delivery, context.recipients);
    }
    if (context.verdict.kind != Verdict::Kind::Continue || !context.rewrites) {
        return context.verdict;
    }
    MessageDraft& draft = *std::get<MessageDraft*>(payload);
    if (context.body != draft.body || context.meta != draft.meta) {
        if (auto problem = rewriteProblem(services_.rules(), context.body, context.meta)) {
            return Verdict::fail(*problem);
        }
        draft.body = std::move(context.body);
        draft.meta = std::move(context.meta);
    }
    return Verdict::proceed();
}

Verdict LuaScript::callCommand(int functionRef, const CommandCall& call,
                               std::chrono::milliseconds budget) {
    auto shared = std::make_shared<CommandContext>();
    CommandContext& context = *shared;
    context.functionRef = functionRef;
    context.args = call.command.args;
    context.uid = call.command.uid;
    context.isAdmin = call.isAdmin;
    const Outcome outcome = enter(&commandBody, shared, budget, {"command", call.command.op});
    switch (outcome.entry) {
        case Entry::Retired:
            return Verdict::defer();
        case Entry::Failed:
        case Entry::Busy:
            return Verdict::fail(outcome.error);
        case Entry::Ran:
            break;
    }
    return context.verdict;
}

void LuaScript::fireTimer(int64_t timerId) {
    if (disabled()) {
        return;  // said once, when it was disabled
    }
    const std::chrono::milliseconds budget = services_.hooks().timerPolicy().budget;
    auto context = std::make_shared<TimerContext>(TimerContext{timerId, false});
    {
        // Not held across the call: the call runs on this thread's runner, which takes it.
        std::unique_lock lock(mutex_, std::defer_lock);
        if (!lock.try_lock_for(budget)) {
            throw std::runtime_error(
                "busy: another call of the script held it for the whole budget");
        }
        auto found = timers_.find(timerId);
        if (found == timers_.end()) {
            return;  // cancelled while it was due
        }
        if (retired_) {
            return;  // close() cancelled it while it was already due
        }
        context->once = found->second.periodMs == 0;
        if (context->once) {
            timers_.erase(found);
        }
    }
    const Outcome outcome = enter(&timerBody, context, budget, {"timer", ""});
    if (outcome.entry == Entry::Failed || outcome.entry == Entry::Busy) {
        throw std::runtime_error(outcome.error);
    }
}

}  // namespace parley
