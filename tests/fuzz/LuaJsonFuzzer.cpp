// libFuzzer target: the JSON bridge between C++ and Lua (core/src/lua/LuaJson.*), in a sandboxed
// state as scripts get it. Input: JSON text. It is pushed into Lua as scripts receive commands and
// events (pushJson under protectedPush), then read back as scripts' results are (toJson).
// Besides the sanitizers, it checks the round trip: a document without nulls (a null field is
// absent in Lua, a null element leaves a hole) and at most 32 levels deep (the decoder's limit)
// comes back equal.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "lua/LuaJson.h"
#include "lua/LuaSandbox.h"
#include "lua/LuaState.h"
#include "lua/LuaSupport.h"

namespace {

using nlohmann::json;

[[noreturn]] void broken(const std::string& what) {
    std::fprintf(stderr, "luajson fuzzer: broken promise: %s\n", what.c_str());
    std::abort();
}

// Levels of arrays and objects, as the decoder counts them (a scalar is 0).
int levels(const json& value) {
    int deepest = 0;
    if (value.is_structured()) {
        for (const auto& element : value) {
            deepest = std::max(deepest, levels(element));
        }
        return deepest + 1;
    }
    return 0;
}

bool hasNull(const json& value) {
    if (value.is_null()) {
        return true;
    }
    if (value.is_structured()) {
        for (const auto& element : value) {
            if (hasNull(element)) {
                return true;
            }
        }
    }
    return false;
}

parley::LuaState& sandbox() {
    // Never destroyed (as the fuzzer never ends cleanly); 64 MiB like a generous script budget.
    static parley::LuaState& state = *new parley::LuaState(64 * 1024 * 1024, 10'000'000);
    static const bool opened = [] {
        lua_State* L = state.get();
        lua_pushcfunction(L, [](lua_State* S) -> int {
            parley::lua::openSandbox(S);
            return 0;
        });
        if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
            broken("cannot open the sandbox");
        }
        return true;
    }();
    (void)opened;
    return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const json document =
        json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size,
                    nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || levels(document) > 64) {
        return 0;  // not JSON (the decoder refuses it), or deeper than json's own recursion likes
    }
    lua_State* L = sandbox().get();
    const int top = lua_gettop(L);
    auto push = [&](lua_State* state) { parley::lua::pushJson(state, document); };
    const bool pushed = parley::lua::protectedPush(L, 1, push);
    const bool expectRoundTrip = levels(document) <= 32 && !hasNull(document);
    if (!pushed) {
        if (expectRoundTrip) {
            broken("pushJson refused " + document.dump().substr(0, 200));
        }
        lua_settop(L, top);
        return 0;
    }
    json back;
    try {
        back = parley::lua::toJson(L, -1);
    } catch (const parley::lua::JsonConversionError& error) {
        if (expectRoundTrip) {
            broken(std::string("toJson refused what pushJson made: ") + error.what());
        }
    }
    if (lua_gettop(L) != top + 1) {
        broken("toJson changed the Lua stack");
    }
    lua_settop(L, top);
    if (expectRoundTrip && back != document) {
        broken("round trip changed " + document.dump().substr(0, 200) + " into " +
               back.dump().substr(0, 200));
    }
    return 0;
}
