#include "lua/LuaText.h"

#include "lua/LuaSandbox.h"
#include "lua/LuaScript.h"
#include "lua/LuaSupport.h"
#include "util/TextFolder.h"

// The longjmp rule of LuaSupport.h holds here too: arguments are checked before any C++ object
// exists, the folding runs inside guarded(), results are pushed through protectedPush().
namespace parley::lua {

namespace {

int fold(lua_State* L, const char* function, TextForm form) {
    size_t length = 0;
    const char* text = checkString(L, 1, function, "the text", &length);
    if (!lua_isnoneornil(L, 2) && !lua_isboolean(L, 2)) {
        return luaL_error(L, "%s: spans must be a boolean (got %s)", function, luaL_typename(L, 2));
    }
    const bool spans = lua_toboolean(L, 2) != 0;
    const int results = spans ? 3 : 1;
    LuaScript& script = LuaScript::of(L);
    char error[kErrorBytes];
    bool pushed = true;
    if (!guarded(error, [&] {
            const FoldedText folded =
                script.services().foldText(std::string_view(text, length), form, spans);
            auto push = [&](lua_State* state) {
                lua_pushlstring(state, folded.text.data(), folded.text.size());
                if (!spans) {
                    return;
                }
                // Positions as string.sub takes them: 1-based, the last byte included.
                const auto size = static_cast<int>(folded.text.size());
                lua_createtable(state, size, 0);
                for (int i = 0; i < size; ++i) {
                    lua_pushinteger(state, static_cast<lua_Integer>(folded.sourceFirst[i]) + 1);
                    lua_rawseti(state, -2, i + 1);
                }
                lua_createtable(state, size, 0);
                for (int i = 0; i < size; ++i) {
                    lua_pushinteger(state, static_cast<lua_Integer>(folded.sourceLast[i]));
                    lua_rawseti(state, -2, i + 1);
                }
            };
            pushed = protectedPush(L, results, push);
        })) {
        return luaL_error(L, "%s: %s", function, error);
    }
    return pushed ? results : lua_error(L);
}

int apiNormalize(lua_State* L) {
    return fold(L, "parley.text.normalize", TextForm::Normalized);
}

int apiSkeleton(lua_State* L) {
    return fold(L, "parley.text.skeleton", TextForm::Skeleton);
}

}  // namespace

void installTextApi(lua_State* L, int api) {
    static const luaL_Reg kText[] = {
        {"normalize", &apiNormalize},
        {"skeleton", &apiSkeleton},
        {nullptr, nullptr},
    };
    api = lua_absindex(L, api);
    lua_newtable(L);
    luaL_setfuncs(L, kText, 0);
    pushReadOnly(L, -1, "parley.text");
    lua_setfield(L, api, "text");
    lua_pop(L, 1);
}

}  // namespace parley::lua
