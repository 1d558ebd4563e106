#include "lua/LuaJson.h"

#include <cmath>
#include <limits>
#include <vector>

#include "lua/LuaBudget.h"
#include "lua/LuaLibraryLimits.h"
#include "lua/LuaSandbox.h"
#include "lua/LuaSupport.h"
#include "util/Utf8.h"

namespace parley::lua {

namespace {

void pushValue(lua_State* L, const nlohmann::json& value, int depth) {
    if (depth > kMaxJsonDepth) {
        luaL_error(L, "JSON nested deeper than %d", kMaxJsonDepth);
    }
    luaL_checkstack(L, 4, "JSON nested too deep");
    switch (value.type()) {
        case nlohmann::json::value_t::null:
        case nlohmann::json::value_t::discarded:
            lua_pushnil(L);
            return;
        case nlohmann::json::value_t::boolean:
            lua_pushboolean(L, value.get<bool>() ? 1 : 0);
            return;
        case nlohmann::json::value_t::number_integer:
            lua_pushinteger(L, value.get<int64_t>());
            return;
        case nlohmann::json::value_t::number_unsigned: {
            const uint64_t number = value.get<uint64_t>();
            if (number <= static_cast<uint64_t>(std::numeric_limits<lua_Integer>::max())) {
                lua_pushinteger(L, static_cast<lua_Integer>(number));
            } else {
                lua_pushnumber(L, static_cast<lua_Number>(number));
            }
            return;
        }
        case nlohmann::json::value_t::number_float:
            lua_pushnumber(L, value.get<double>());
            return;
        case nlohmann::json::value_t::string: {
            const auto& text = value.get_ref<const std::string&>();
            lua_pushlstring(L, text.data(), text.size());
            return;
        }
        case nlohmann::json::value_t::binary:
            lua_pushnil(L);
            return;
        case nlohmann::json::value_t::array: {
            // Only trivially destructible locals here (iterators): a raise may skip this frame.
            lua_createtable(L, static_cast<int>(std::min<size_t>(value.size(), 1 << 20)), 0);
            lua_Integer index = 0;
            for (auto element = value.begin(); element != value.end(); ++element) {
                ++index;
                if (!element->is_null()) {
                    pushValue(L, *element, depth + 1);
                    lua_rawseti(L, -2, index);
                }
            }
            lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMarkerKey);
            if (lua_istable(L, -1)) {
                lua_setmetatable(L, -2);
            } else {
                lua_pop(L, 1);
            }
            return;
        }
        case nlohmann::json::value_t::object: {
            lua_createtable(L, 0, static_cast<int>(std::min<size_t>(value.size(), 1 << 20)));
            for (auto field = value.begin(); field != value.end(); ++field) {
                if (field->is_null()) {
                    continue;
                }
                const auto& key = field.key();
                lua_pushlstring(L, key.data(), key.size());
                pushValue(L, *field, depth + 1);
                lua_rawset(L, -3);
            }
            return;
        }
    }
    lua_pushnil(L);
}

// What a value costs as JSON (C++ memory, outside the script's allocator): its text, plus this
// for each value, about what nlohmann's node takes.
constexpr size_t kBytesPerValue = 16;

class Reader {
  public:
    explicit Reader(lua_State* L) : L_(L) {
        void* ud = nullptr;
        lua_getallocf(L_, &ud);
        budget_ = static_cast<LuaBudget*>(ud);
        lua_rawgetp(L_, LUA_REGISTRYINDEX, &kArrayMarkerKey);  // raw, light key: no allocation
        markerIndex_ = lua_gettop(L_);
    }
    ~Reader() { lua_settop(L_, markerIndex_ - 1); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Charges what is left of the work (the conversion is C work on the script's behalf).
    void flush() {
        const uint64_t units = pendingUnits_;
        pendingUnits_ = 0;
        if (!budget_->charge(units)) {
            throw JsonConversionError(budget_->stopReason());
        }
    }

    nlohmann::json read(int index, int depth) {
        index = lua_absindex(L_, index);
        account(lua_type(L_, index) == LUA_TSTRING ? lua_rawlen(L_, index) : 0);
        switch (lua_type(L_, index)) {
            case LUA_TNIL:
            case LUA_TNONE:
                return nullptr;
            case LUA_TBOOLEAN:
                return lua_toboolean(L_, index) != 0;
            case LUA_TNUMBER:
                if (lua_isinteger(L_, index)) {
                    return static_cast<int64_t>(lua_tointeger(L_, index));
                } else {
                    const double number = lua_tonumber(L_, index);
                    if (!std::isfinite(number)) {
                        throw JsonConversionError("cannot encode NaN or infinity");
                    }
                    return number;
                }
            case LUA_TSTRING: {
                size_t length = 0;
                const char* text = lua_tolstring(L_, index, &length);  // a string: no allocation
                std::string value(text, length);
                if (!isValidUtf8(value)) {
                    throw JsonConversionError("cannot encode a string that is not valid UTF-8");
                }
                return value;
            }
            case LUA_TTABLE:
                return readTable(index, depth);
            default:
                throw JsonConversionError(std::string("cannot encode a ") +
                                          luaL_typename(L_, index));
        }
    }

  private:
    // A table may hold the same table or string many times over: its JSON copies each of them
    // every time. What the copies would take is bounded by the script's memory limit, and the
    // work is charged to its budget, before nlohmann's memory (parleyd's) grows.
    void account(size_t textBytes) {
        bytes_ += kBytesPerValue + textBytes;
        if (bytes_ > budget_->memoryLimit()) {
            throw JsonConversionError("the value takes more than the script's memory limit (" +
                                      std::to_string(budget_->memoryLimit()) + " bytes) as JSON");
        }
        pendingUnits_ += 1 + textBytes / kBytesPerUnit;
        if (pendingUnits_ >= kChargeBatch) {
            flush();
        }
    }

    nlohmann::json readTable(int index, int depth) {
        if (depth >= kMaxJsonDepth) {
            throw JsonConversionError("tables nested deeper than " + std::to_string(kMaxJsonDepth));
        }
        if (pushProxied(L_, index)) {
            // A read-only view (parley.config): encode what it shows.
            nlohmann::json shown = readTable(lua_gettop(L_), depth);
            lua_pop(L_, 1);
            return shown;
        }
        const void* identity = lua_topointer(L_, index);
        for (const void* open : path_) {
            if (open == identity) {
                throw JsonConversionError("cannot encode a table that contains itself");
            }
        }
        // lua_checkstack does not raise: it answers false when the stack cannot grow.
        if (!lua_checkstack(L_, 4)) {
            throw JsonConversionError("Lua stack exhausted");
        }
        bool marked = false;
        if (lua_getmetatable(L_, index) != 0) {
            marked = lua_rawequal(L_, -1, markerIndex_) != 0;
            lua_pop(L_, 1);
        }
        size_t count = 0;
        lua_Integer largest = 0;
        bool allIntegers = true;
        bool allStrings = true;
        lua_pushnil(L_);
        while (lua_next(L_, index) != 0) {
            ++count;
            if (lua_type(L_, -2) == LUA_TNUMBER && lua_isinteger(L_, -2)) {
                largest = std::max(largest, lua_tointeger(L_, -2));
                allStrings = false;
                if (lua_tointeger(L_, -2) < 1) {
                    allIntegers = false;
                }
            } else {
                allIntegers = false;
                allStrings = allStrings && lua_type(L_, -2) == LUA_TSTRING;
            }
            lua_pop(L_, 1);
        }
        path_.push_back(identity);
        nlohmann::json result;
        if (allIntegers && static_cast<size_t>(largest) == count && (count > 0 || marked)) {
            result = nlohmann::json::array();
            for (lua_Integer i = 1; i <= largest; ++i) {
                lua_rawgeti(L_, index, i);
                result.push_back(read(-1, depth + 1));
                lua_pop(L_, 1);
            }
        } else if (count == 0 || allStrings) {
            result = nlohmann::json::object();
            lua_pushnil(L_);
            while (lua_next(L_, index) != 0) {
                size_t length = 0;
                const char* key = lua_tolstring(L_, -2, &length);  // a string key: no conversion
                std::string name(key, length);
                account(length);
                if (!isValidUtf8(name)) {
                    throw JsonConversionError("cannot encode a key that is not valid UTF-8");
                }
                result[name] = read(-1, depth + 1);
                lua_pop(L_, 1);
            }
        } else {
            throw JsonConversionError(
                "cannot encode a table whose keys are neither all strings nor 1..n");
        }
        path_.pop_back();
        return result;
    }

    static constexpr uint64_t kChargeBatch = 256;

    lua_State* L_;
    LuaBudget* budget_ = nullptr;
    int markerIndex_ = 0;
    std::vector<const void*> path_;
    size_t bytes_ = 0;
    uint64_t pendingUnits_ = 0;
};

}  // namespace

void pushJson(lua_State* L, const nlohmann::json& value) {
    pushValue(L, value, 0);
}

nlohmann::json toJson(lua_State* L, int index) {
    index = lua_absindex(L, index);
    if (!lua_checkstack(L, 2)) {
        throw JsonConversionError("Lua stack exhausted");
    }
    Reader reader(L);
    nlohmann::json value = reader.read(index, 0);
    reader.flush();
    return value;
}

}  // namespace parley::lua
