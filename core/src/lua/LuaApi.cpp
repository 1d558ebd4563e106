#include "lua/LuaApi.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "lua/LuaJson.h"
#include "lua/LuaLibraryLimits.h"
#include "lua/LuaSandbox.h"
#include "lua/LuaScript.h"
#include "lua/LuaSupport.h"
#include "lua/LuaText.h"
#include "parley/plugin.h"
#include "protocol/Views.h"

// Every function here follows the longjmp rule of LuaSupport.h: arguments are checked (raising)
// before any C++ object exists, C++ work runs inside guarded(), C++ results are pushed through
// protectedPush(), and Lua errors are raised only after the guarded scope has ended.
namespace parley::lua {

namespace {

constexpr size_t kMaxPrintBytes = 4096;
constexpr size_t kMaxDecodeBytes = 1024 * 1024;
constexpr lua_Integer kDefaultListLimit = 100;
constexpr lua_Integer kMaxListLimit = 1000;
constexpr lua_Integer kDefaultMessagesLimit = 50;  // msg.history's
constexpr lua_Integer kMaxMessagesLimit = 100;

// A table argument as JSON, with errors worded for the script.
nlohmann::json argumentJson(lua_State* L, int index, const char* function, const char* what) {
    try {
        return toJson(L, index);
    } catch (const JsonConversionError& error) {
        throw std::invalid_argument(std::string(function) + ": " + what + ": " + error.what());
    }
}

bool isWellFormedOp(const char* op, size_t length) {
    if (length == 0 || length > 64 || std::memchr(op, '.', length) == nullptr) {
        return false;
    }
    return std::all_of(op, op + length, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

int apiHook(lua_State* L) {
    const char* name = checkString(L, 1, "parley.hook", "the hook name");
    checkFunction(L, 2, "parley.hook", "the handler");
    LuaScript& script = LuaScript::of(L);
    if (!script.loading()) {
        return luaL_error(L,
                          "parley.hook: hooks are registered while the script loads (at its "
                          "top level), not from a hook, command or timer");
    }
    const std::optional<Hook> hook = hookByName(name);
    if (!hook) {
        return luaL_error(L, "parley.hook: unknown hook '%s'", name);
    }
    lua_pushvalue(L, 2);
    const int functionRef = luaL_ref(L, LUA_REGISTRYINDEX);
    char error[kErrorBytes];
    if (!guarded(error, [&] { script.addHook(*hook, functionRef); })) {
        luaL_unref(L, LUA_REGISTRYINDEX, functionRef);
        return luaL_error(L, "parley.hook: %s", error);
    }
    return 0;
}

int apiCommand(lua_State* L) {
    size_t length = 0;
    const char* op = checkString(L, 1, "parley.command", "the op", &length);
    checkFunction(L, 2, "parley.command", "the handler");
    LuaScript& script = LuaScript::of(L);
    if (!script.loading()) {
        return luaL_error(L,
                          "parley.command: commands are registered while the script loads "
                          "(at its top level), not from a hook, command or timer");
    }
    if (!isWellFormedOp(op, length)) {
        return luaL_error(L,
                          "parley.command: op '%s' must be 1-64 characters from a-z 0-9 . _ - "
                          "with a '.'",
                          op);
    }
    lua_pushvalue(L, 2);
    const int functionRef = luaL_ref(L, LUA_REGISTRYINDEX);
    char error[kErrorBytes];
    if (!guarded(error, [&] { script.addCommand(std::string(op, length), functionRef); })) {
        luaL_unref(L, LUA_REGISTRYINDEX, functionRef);
        return luaL_error(L, "parley.command: %s", error);
    }
    return 0;
}

int apiSend(lua_State* L) {
    size_t length = 0;
    const char* uid = checkString(L, 1, "parley.send", "the user id", &length);
    checkTable(L, 2, "parley.send", "the event");
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            // toJson only reads (no Lua allocation, no raise): safe among C++ objects.
            const nlohmann::json event = argumentJson(L, 2, "parley.send", "event");
            script.services().publishToUser(script.name(), std::string(uid, length), event);
        })) {
        return luaL_error(L, "%s", error);
    }
    return 0;
}

int apiBroadcast(lua_State* L) {
    size_t length = 0;
    const char* conv = checkString(L, 1, "parley.broadcast", "the conversation id", &length);
    checkTable(L, 2, "parley.broadcast", "the event");
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            const nlohmann::json event = argumentJson(L, 2, "parley.broadcast", "event");
            script.services().publishToConversation(script.name(), std::string(conv, length),
                                                    event);
        })) {
        return luaL_error(L, "%s", error);
    }
    return 0;
}

int apiPost(lua_State* L) {
    size_t convLength = 0;
    size_t bodyLength = 0;
    size_t cmidLength = 0;
    const char* conv = checkString(L, 1, "parley.post", "the conversation id", &convLength);
    const char* body = checkString(L, 2, "parley.post", "the body", &bodyLength);
    const bool hasMeta = !lua_isnoneornil(L, 3);
    if (hasMeta) {
        checkTable(L, 3, "parley.post", "meta");
    }
    const char* cmid = optString(L, 4, "parley.post", "the cmid", &cmidLength);
    LuaScript& script = LuaScript::of(L);
    int64_t seq = 0;
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            const nlohmann::json meta =
                hasMeta ? argumentJson(L, 3, "parley.post", "meta") : nlohmann::json(nullptr);
            std::optional<std::string> clientId;
            if (cmid != nullptr) {
                clientId.emplace(cmid, cmidLength);
            }
            // message.after_store runs inside postMessage and may re-enter this very script:
            // the nested call must run on this thread (a coroutine, maybe), under this call.
            struct Restore {
                LuaScript& script;
                lua_State* previous;
                ~Restore() { script.swapActiveThread(previous); }
            } restore{script, script.swapActiveThread(L)};
            seq = script.services()
                      .postMessage(script.name(), std::string(conv, convLength), clientId,
                                   std::string(body, bodyLength), meta)
                      .seq;
        })) {
        return luaL_error(L, "%s", error);
    }
    lua_pushinteger(L, seq);
    return 1;
}

// Pushes what `lookup` returns (a JSON value, or nothing for nil), or raises its error.
template <typename Lookup>
int pushLookup(lua_State* L, Lookup&& lookup) {
    char error[kErrorBytes];
    bool found = false;
    bool pushed = true;
    if (!guarded(error, [&] {
            std::optional<nlohmann::json> value = lookup();
            if (value) {
                found = true;
                auto push = [&](lua_State* state) { pushJson(state, *value); };
                pushed = protectedPush(L, 1, push);
            }
        })) {
        return luaL_error(L, "%s", error);
    }
    if (!pushed) {
        return lua_error(L);  // the memory error protectedPush left on the stack
    }
    if (!found) {
        lua_pushnil(L);
    }
    return 1;
}

int apiConversation(lua_State* L) {
    size_t length = 0;
    const char* conv = checkString(L, 1, "parley.conversation", "the conversation id", &length);
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] { return script.services().conversation(std::string(conv, length)); });
}

int apiUser(lua_State* L) {
    size_t length = 0;
    const char* uid = checkString(L, 1, "parley.user", "the user id", &length);
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] {
        return std::optional<nlohmann::json>(script.services().user(std::string(uid, length)));
    });
}

// Raises "<function>: unknown option '<key>'" for a key of the table at `index` that is not in
// `allowed` (nullptr-terminated): a misspelt option must not be ignored. Reads raw.
void checkOptionNames(lua_State* L, int index, const char* function, const char* const* allowed) {
    index = lua_absindex(L, index);
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);  // the value; the key stays for lua_next
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "%s: option names are strings (got %s)", function, luaL_typename(L, -1));
        }
        const char* key = lua_tostring(L, -1);  // a string: no conversion that confuses lua_next
        bool known = false;
        for (const char* const* name = allowed; *name != nullptr; ++name) {
            known = known || std::strcmp(*name, key) == 0;
        }
        if (!known) {
            luaL_error(L, "%s: unknown option '%s'", function, key);
        }
    }
}

// Pushes the field `key` of the table at `index`, read raw (no metamethod runs).
void pushRawField(lua_State* L, int index, const char* key) {
    index = lua_absindex(L, index);
    lua_pushstring(L, key);
    lua_rawget(L, index);
}

// parley.messages(conv [, {before =, after =, limit =}]) -> {msgs = {...}, has_more = bool}
int apiMessages(lua_State* L) {
    static const char* const kOptions[] = {"before", "after", "limit", nullptr};
    const char* function = "parley.messages";
    size_t length = 0;
    const char* conv = checkString(L, 1, function, "the conversation id", &length);
    bool hasBefore = false;
    bool hasAfter = false;
    lua_Integer before = 0;
    lua_Integer after = 0;
    lua_Integer limit = kDefaultMessagesLimit;
    if (!lua_isnoneornil(L, 2)) {
        checkTable(L, 2, function, "the options");
        checkOptionNames(L, 2, function, kOptions);
        lua_settop(L, 2);
        pushRawField(L, 2, "before");  // 3
        pushRawField(L, 2, "after");   // 4
        pushRawField(L, 2, "limit");   // 5
        hasBefore = !lua_isnil(L, 3);
        hasAfter = !lua_isnil(L, 4);
        before = optInteger(L, 3, function, "before", 0);
        after = optInteger(L, 4, function, "after", 0);
        limit = optInteger(L, 5, function, "limit", kDefaultMessagesLimit);
    }
    if (before < 0 || after < 0) {
        return luaL_error(L, "%s: before and after must not be negative", function);
    }
    if (limit < 1 || limit > kMaxMessagesLimit) {
        return luaL_error(L, "%s: the limit must be 1-%d", function,
                          static_cast<int>(kMaxMessagesLimit));
    }
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] {
        return std::optional<nlohmann::json>(script.services().messages(
            std::string(conv, length), hasBefore ? std::optional<int64_t>(before) : std::nullopt,
            hasAfter ? std::optional<int64_t>(after) : std::nullopt, static_cast<int>(limit)));
    });
}

// parley.context.update(type, id, {title =, status =}) -> array of conversation ids
int apiContextUpdate(lua_State* L) {
    static const char* const kFields[] = {"title", "status", nullptr};
    const char* function = "parley.context.update";
    size_t typeLength = 0;
    size_t idLength = 0;
    size_t titleLength = 0;
    size_t statusLength = 0;
    const char* type = checkString(L, 1, function, "the context type", &typeLength);
    const char* id = checkString(L, 2, function, "the context id", &idLength);
    checkTable(L, 3, function, "the fields");
    checkOptionNames(L, 3, function, kFields);
    lua_settop(L, 3);
    pushRawField(L, 3, "title");   // 4: kept on the stack while its text is used
    pushRawField(L, 3, "status");  // 5
    const char* title = optString(L, 4, function, "title", &titleLength);
    const char* status = optString(L, 5, function, "status", &statusLength);
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] {
        std::optional<std::string> newTitle;
        std::optional<std::string> newStatus;
        if (title != nullptr) {
            newTitle.emplace(title, titleLength);
        }
        if (status != nullptr) {
            newStatus.emplace(status, statusLength);
        }
        // A JSON array: pushed as a marked table, so it encodes as [] even when empty.
        return std::optional<nlohmann::json>(nlohmann::json(
            script.services().updateContext(script.name(), std::string(type, typeLength),
                                            std::string(id, idLength), newTitle, newStatus)));
    });
}

// parley.context.conversations(type, id [, limit]) -> array of conversation ids
int apiContextConversations(lua_State* L) {
    const char* function = "parley.context.conversations";
    size_t typeLength = 0;
    size_t idLength = 0;
    const char* type = checkString(L, 1, function, "the context type", &typeLength);
    const char* id = checkString(L, 2, function, "the context id", &idLength);
    const lua_Integer limit = optInteger(L, 3, function, "the limit", kDefaultListLimit);
    if (limit < 1 || limit > kMaxListLimit) {
        return luaL_error(L, "%s: the limit must be 1-%d", function,
                          static_cast<int>(kMaxListLimit));
    }
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] {
        return std::optional<nlohmann::json>(nlohmann::json(script.services().conversationsAbout(
            std::string(type, typeLength), std::string(id, idLength), static_cast<int>(limit))));
    });
}

int apiKvGet(lua_State* L) {
    size_t length = 0;
    const char* key = checkString(L, 1, "parley.kv.get", "the key", &length);
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    bool pushed = true;
    if (!guarded(error, [&] {
            const auto value = script.services().kvGet(script.name(), std::string(key, length));
            auto push = [&](lua_State* state) {
                if (value) {
                    lua_pushlstring(state, value->data(), value->size());
                } else {
                    lua_pushnil(state);
                }
            };
            pushed = protectedPush(L, 1, push);
        })) {
        return luaL_error(L, "%s", error);
    }
    return pushed ? 1 : lua_error(L);
}

int apiKvSet(lua_State* L) {
    size_t keyLength = 0;
    size_t valueLength = 0;
    const char* key = checkString(L, 1, "parley.kv.set", "the key", &keyLength);
    const char* value = checkString(L, 2, "parley.kv.set", "the value", &valueLength);
    const lua_Integer ttl = optInteger(L, 3, "parley.kv.set", "ttl_ms", 0);
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            script.services().kvSet(script.name(), std::string(key, keyLength),
                                    std::string(value, valueLength), ttl);
        })) {
        return luaL_error(L, "%s", error);
    }
    return 0;
}

int apiKvDelete(lua_State* L) {
    size_t length = 0;
    const char* key = checkString(L, 1, "parley.kv.delete", "the key", &length);
    LuaScript& script = LuaScript::of(L);
    bool deleted = false;
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            deleted = script.services().kvDelete(script.name(), std::string(key, length));
        })) {
        return luaL_error(L, "%s", error);
    }
    lua_pushboolean(L, deleted ? 1 : 0);
    return 1;
}

int apiKvIncr(lua_State* L) {
    size_t length = 0;
    const char* key = checkString(L, 1, "parley.kv.incr", "the key", &length);
    const lua_Integer delta = optInteger(L, 2, "parley.kv.incr", "delta", 1);
    const lua_Integer ttl = optInteger(L, 3, "parley.kv.incr", "ttl_ms", 0);
    LuaScript& script = LuaScript::of(L);
    int64_t value = 0;
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            value = script.services().kvIncr(script.name(), std::string(key, length), delta, ttl);
        })) {
        return luaL_error(L, "%s", error);
    }
    lua_pushinteger(L, value);
    return 1;
}

int apiKvList(lua_State* L) {
    size_t length = 0;
    const char* prefix = checkString(L, 1, "parley.kv.list", "the prefix", &length);
    const lua_Integer limit = optInteger(L, 2, "parley.kv.list", "the limit", kDefaultListLimit);
    if (limit < 1) {
        return luaL_error(L, "parley.kv.list: the limit must be at least 1");
    }
    // after: only keys after it, to walk past one page (the last key of the previous one).
    std::string after;
    if (!lua_isnoneornil(L, 3)) {
        size_t afterLength = 0;
        const char* text =
            checkString(L, 3, "parley.kv.list", "the key to list after", &afterLength);
        after.assign(text, afterLength);
    }
    LuaScript& script = LuaScript::of(L);
    return pushLookup(L, [&] {
        nlohmann::json entries = nlohmann::json::array();
        for (auto& [key, value] : script.services().kvList(
                 script.name(), std::string(prefix, length), static_cast<size_t>(limit), after)) {
            entries.push_back({{"key", std::move(key)}, {"value", std::move(value)}});
        }
        return std::optional<nlohmann::json>(std::move(entries));
    });
}

int addTimer(lua_State* L, const char* function, bool periodic) {
    const lua_Integer ms = checkInteger(L, 1, function, "the delay in ms");
    checkFunction(L, 2, function, "the callback");
    if (ms < 0 || (periodic && ms < 10)) {
        return luaL_error(L,
                          periodic ? "%s: the period must be at least 10 ms"
                                   : "%s: the delay must not be negative",
                          function);
    }
    LuaScript& script = LuaScript::of(L);
    if (script.timerCount() >= LuaScript::kMaxTimers) {
        return luaL_error(L, "%s: a script has at most %d timers", function,
                          static_cast<int>(LuaScript::kMaxTimers));
    }
    const int64_t id = script.nextTimerId();
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kTimersKey);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, id);
    char error[kErrorBytes];
    if (!guarded(error, [&] { script.scheduleTimer(id, ms, periodic ? ms : 0); })) {
        lua_pushnil(L);
        lua_rawseti(L, -2, id);
        return luaL_error(L, "%s: %s", function, error);
    }
    lua_pushinteger(L, id);
    return 1;
}

int apiTimerAfter(lua_State* L) {
    return addTimer(L, "parley.timer.after", false);
}

int apiTimerEvery(lua_State* L) {
    return addTimer(L, "parley.timer.every", true);
}

int apiTimerCancel(lua_State* L) {
    const lua_Integer id = checkInteger(L, 1, "parley.timer.cancel", "the timer id");
    LuaScript& script = LuaScript::of(L);
    bool cancelled = false;
    char error[kErrorBytes];
    if (!guarded(error, [&] { cancelled = script.cancelTimer(id); })) {
        return luaL_error(L, "parley.timer.cancel: %s", error);
    }
    if (cancelled) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &kTimersKey);
        lua_pushnil(L);
        lua_rawseti(L, -2, id);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, cancelled ? 1 : 0);
    return 1;
}

int apiLog(lua_State* L) {
    static const char* const kLevels[] = {"debug", "info", "warn", "error", nullptr};
    static const LogLevel kLogLevels[] = {LogLevel::Debug, LogLevel::Info, LogLevel::Warning,
                                          LogLevel::Error};
    const char* levelName = checkString(L, 1, "parley.log", "the level");
    int level = -1;
    for (int i = 0; kLevels[i] != nullptr; ++i) {
        if (std::strcmp(kLevels[i], levelName) == 0) {
            level = i;
        }
    }
    if (level < 0) {
        return luaL_error(L, "parley.log: the level must be debug, info, warn or error, not '%s'",
                          levelName);
    }
    size_t length = 0;
    const char* message = luaL_tolstring(L, 2, &length);  // may run __tostring: still Lua's time
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            script.services().log(script.name(), kLogLevels[level],
                                  std::string(message, std::min(length, kMaxPrintBytes)));
        })) {
        return luaL_error(L, "parley.log: %s", error);
    }
    return 0;
}

int apiPrint(lua_State* L) {
    const int count = lua_gettop(L);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    for (int i = 1; i <= count; ++i) {
        if (i > 1) {
            luaL_addchar(&buffer, '\t');
        }
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&buffer);
    }
    luaL_pushresult(&buffer);
    size_t length = 0;
    const char* text = lua_tolstring(L, -1, &length);
    chargeWork(L, static_cast<uint64_t>(count) + length / kBytesPerUnit);
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    if (!guarded(error, [&] {
            script.services().log(script.name(), LogLevel::Info,
                                  std::string(text, std::min(length, kMaxPrintBytes)));
        })) {
        return luaL_error(L, "print: %s", error);
    }
    return 0;
}

int apiNow(lua_State* L) {
    int64_t now = 0;
    char error[kErrorBytes];
    if (!guarded(error, [&] { now = LuaScript::of(L).services().wallMs(); })) {
        return luaL_error(L, "parley.now: %s", error);
    }
    lua_pushinteger(L, now);
    return 1;
}

int apiClock(lua_State* L) {
    int64_t now = 0;
    char error[kErrorBytes];
    if (!guarded(error, [&] { now = LuaScript::of(L).services().monotonicMs(); })) {
        return luaL_error(L, "parley.clock: %s", error);
    }
    lua_pushinteger(L, now);
    return 1;
}

int apiJsonEncode(lua_State* L) {
    luaL_checkany(L, 1);
    char error[kErrorBytes];
    bool pushed = true;
    if (!guarded(error, [&] {
            const std::string text =
                argumentJson(L, 1, "parley.json.encode", "value").dump(-1, ' ', false);
            auto push = [&](lua_State* state) { lua_pushlstring(state, text.data(), text.size()); };
            pushed = protectedPush(L, 1, push);
        })) {
        return luaL_error(L, "%s", error);
    }
    return pushed ? 1 : lua_error(L);
}

int apiJsonDecode(lua_State* L) {
    size_t length = 0;
    const char* text = checkString(L, 1, "parley.json.decode", "the text", &length);
    if (length > kMaxDecodeBytes) {
        return luaL_error(L, "parley.json.decode: the text is longer than %d bytes",
                          static_cast<int>(kMaxDecodeBytes));
    }
    // The JSON reader ends its input at a NUL byte; JSON text never holds a raw one.
    if (std::memchr(text, '\0', length) != nullptr) {
        return luaL_error(L,
                          "parley.json.decode: the text must be one JSON value and nothing "
                          "else (it holds a NUL byte)");
    }
    char error[kErrorBytes];
    bool pushed = true;
    if (!guarded(error, [&] {
            nlohmann::json value;
            try {
                // The depth check runs while parsing: nothing deeper is ever built.
                value = nlohmann::json::parse(
                    text, text + length, [](int depth, nlohmann::json::parse_event_t, auto&) {
                        if (depth > kMaxJsonDepth) {
                            throw std::invalid_argument("JSON nested deeper than " +
                                                        std::to_string(kMaxJsonDepth));
                        }
                        return true;
                    });
            } catch (const std::exception& parseError) {
                throw std::invalid_argument(std::string("parley.json.decode: ") +
                                            parseError.what());
            }
            auto push = [&](lua_State* state) { pushJson(state, value); };
            pushed = protectedPush(L, 1, push);
        })) {
        return luaL_error(L, "%s", error);
    }
    return pushed ? 1 : lua_error(L);
}

int apiJsonArray(lua_State* L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        checkTable(L, 1, "parley.json.array", "the table");
        lua_settop(L, 1);
        if (lua_getmetatable(L, 1) != 0) {
            return luaL_error(L, "parley.json.array: the table already has a metatable");
        }
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey);
    lua_setmetatable(L, 1);
    return 1;
}

// Sets `functions` into a new table, pushes its read-only proxy under `field` of the table at
// `parent`.
void addLibrary(lua_State* L, int parent, const char* field, const char* name,
                const luaL_Reg* functions) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    pushReadOnly(L, -1, name);
    lua_setfield(L, parent, field);
    lua_pop(L, 1);
}

}  // namespace

void installApi(lua_State* L) {
    LuaScript& script = LuaScript::of(L);
    static const luaL_Reg kApi[] = {
        {"hook", &apiHook},         {"command", &apiCommand},
        {"send", &apiSend},         {"broadcast", &apiBroadcast},
        {"post", &apiPost},         {"conversation", &apiConversation},
        {"user", &apiUser},         {"log", &apiLog},
        {"now", &apiNow},           {"clock", &apiClock},
        {"messages", &apiMessages}, {nullptr, nullptr},
    };
    static const luaL_Reg kKv[] = {
        {"get", &apiKvGet},   {"set", &apiKvSet},   {"delete", &apiKvDelete},
        {"incr", &apiKvIncr}, {"list", &apiKvList}, {nullptr, nullptr},
    };
    static const luaL_Reg kTimer[] = {
        {"after", &apiTimerAfter},
        {"every", &apiTimerEvery},
        {"cancel", &apiTimerCancel},
        {nullptr, nullptr},
    };
    static const luaL_Reg kContext[] = {
        {"update", &apiContextUpdate},
        {"conversations", &apiContextConversations},
        {nullptr, nullptr},
    };
    static const luaL_Reg kJson[] = {
        {"encode", &apiJsonEncode},
        {"decode", &apiJsonDecode},
        {"array", &apiJsonArray},
        {nullptr, nullptr},
    };

    lua_newtable(L);
    const int api = lua_gettop(L);
    luaL_setfuncs(L, kApi, 0);
    addLibrary(L, api, "kv", "parley.kv", kKv);
    addLibrary(L, api, "timer", "parley.timer", kTimer);
    addLibrary(L, api, "json", "parley.json", kJson);
    addLibrary(L, api, "context", "parley.context", kContext);
    installTextApi(L, api);
    lua_pushlstring(L, script.name().data(), script.name().size());
    lua_setfield(L, api, "name");
    pushReadOnlyJson(L, script.options(), "parley.config");
    lua_setfield(L, api, "config");
    lua_pushlightuserdata(L, &kDeferSentinel);
    lua_setfield(L, api, "DEFER");
    // One count of what the extension API grew, shared with plugins (parley/plugin.h).
    lua_pushinteger(L, PARLEY_PLUGIN_ABI_LEVEL);
    lua_setfield(L, api, "api_level");

    lua_pushglobaltable(L);
    pushReadOnly(L, api, "parley");
    lua_setfield(L, -2, "parley");
    lua_pushcfunction(L, &apiPrint);
    lua_setfield(L, -2, "print");
    lua_pop(L, 2);
}

}  // namespace parley::lua
