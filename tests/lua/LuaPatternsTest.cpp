// The sandbox's pattern functions (budget-charged) against the stock ones of liblua5.4: the same
// results and the same errors for a catalogue of subjects and patterns.

#include <gtest/gtest.h>

#include <string>

#include "lua/LuaPatterns.h"
#include "lua/LuaState.h"

namespace parley::testing {
namespace {

constexpr const char* kComparison = R"LUA(
local subjects = {
  "", "a", "hello world", "  padded  ", "key = value; other=thing", "THE (quick) fox",
  "f(a(b)c) [x] {y}", "aaa", "abcabcabc", "x=1, y=22, z=333", "l\0nul", "%d%%",
  "déjà vu", "a.b.c", "^$", "line1\nline2\n",
}
local patterns = {
  "", "a", "o", "^h", "d$", "^$", ".", ".-", ".*", "a*", "a+", "a-", "a?", "%a+", "%d+",
  "%s*", "%S+", "%w+", "%p", "%u", "%l+", "%x+", "%c", "[aeiou]", "[^aeiou]+", "[a-c]+",
  "[%d%.]+", "[]]", "[^]]", "[%]]", "(%w+)%s*=%s*(%w+)", "()b()", "(a)(b)(c)", "(a*(.)%w(%s*))",
  "%b()", "%b[]", "%b{}", "%f[%a]%a+", "%f[%A]", "%f[%w]%w+%f[%W]", "(%a)%1", "(.)%1",
  "^(%w+)", "(%d+)$", "[%z]", "%z", "\0", "x=(%d+)", "%.", "a.-c", "a.*c", "(h)(e)(l)(l)(o)",
  "[a-]", "[-a]", "[%a-z]", "^%s*(.-)%s*$", "(%%)", "%%d", "[\128-\255]+", "[%w_]+",
  "(((a)))", "(()a)", "$", "^", "a$b", "^^", "%^", "[^%s]+",
}
local bad = { "[a", "(", ")", "%", "%b", "%b(", "%f", "%fa", "(%1)", "%2", "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))" }

local function pack(ok, ...) return {n = select("#", ...), ok = ok, ...} end
local function same(a, b)
  if a.ok ~= b.ok or a.n ~= b.n then return false end
  for i = 1, a.n do if a[i] ~= b[i] then return false end end
  return true
end
local function show(r)
  local parts = {tostring(r.ok)}
  for i = 1, r.n do parts[#parts + 1] = string.format("%q", tostring(r[i])) end
  return table.concat(parts, ",")
end

local failures, checks = {}, 0
local function compare(label, f, g, ...)
  checks = checks + 1
  local expected, actual = pack(pcall(f, ...)), pack(pcall(g, ...))
  if not same(expected, actual) then
    local args = {}
    for i = 1, select("#", ...) do args[#args + 1] = string.format("%q", tostring((select(i, ...)))) end
    failures[#failures + 1] = label .. "(" .. table.concat(args, ", ") .. "): stock " ..
      show(expected) .. " sandbox " .. show(actual)
  end
end
local function gmatchAll(gmatch)
  return function(s, p, init)
    local out = {}
    for a, b, c in gmatch(s, p, init) do
      out[#out + 1] = tostring(a) .. "|" .. tostring(b) .. "|" .. tostring(c)
      if #out > 100 then break end
    end
    return table.concat(out, ";")
  end
end

local all = {}
for _, p in ipairs(patterns) do all[#all + 1] = p end
for _, p in ipairs(bad) do all[#all + 1] = p end
local replacements = {"<%0>", "%1-%1", "%%", "x", "%2", "%9", "%", "%z", 7}
for _, s in ipairs(subjects) do
  for _, p in ipairs(all) do
    for _, init in ipairs({1, 2, -3, 0, 100}) do
      compare("find", stock.find, string.find, s, p, init)
      compare("find plain", stock.find, string.find, s, p, init, true)
      compare("match", stock.match, string.match, s, p, init)
    end
    compare("gmatch", gmatchAll(stock.gmatch), gmatchAll(string.gmatch), s, p)
    compare("gmatch init", gmatchAll(stock.gmatch), gmatchAll(string.gmatch), s, p, 3)
    for _, r in ipairs(replacements) do
      compare("gsub", stock.gsub, string.gsub, s, p, r)
      compare("gsub max", stock.gsub, string.gsub, s, p, r, 1)
    end
    compare("gsub fn", stock.gsub, string.gsub, s, p, function(a, b) return b or a:upper() end)
    compare("gsub false", stock.gsub, string.gsub, s, p, function() return false end)
    compare("gsub table", stock.gsub, string.gsub, s, p, {a = "A", hello = 1, [""] = "E"})
    compare("gsub bad value", stock.gsub, string.gsub, s, p, function() return {} end)
  end
end
return checks, table.concat(failures, "\n")
)LUA";

TEST(LuaPatternsTest, BehaveAsTheStockFunctions) {
    LuaState state(256 * 1024 * 1024, int64_t{1} << 40);
    lua_State* L = state.get();
    state.budget().start(std::chrono::seconds(60));
    luaL_openlibs(L);
    // "stock": the untouched functions; "string": the ones the sandbox installs.
    lua_getglobal(L, "string");
    lua_newtable(L);
    for (const char* name : {"find", "match", "gmatch", "gsub"}) {
        lua_getfield(L, -2, name);
        lua_setfield(L, -2, name);
    }
    lua_setglobal(L, "stock");
    lua::installPatternFunctions(L, -1);
    lua_pop(L, 1);
    ASSERT_EQ(luaL_loadstring(L, kComparison), LUA_OK) << lua_tostring(L, -1);
    ASSERT_EQ(lua_pcall(L, 0, 2, 0), LUA_OK) << lua_tostring(L, -1);
    EXPECT_GT(lua_tointeger(L, -2), 40000);
    EXPECT_STREQ(lua_tostring(L, -1), "");
    lua_pop(L, 2);
    state.budget().finish();
}

TEST(LuaPatternsTest, MatchingIsChargedToTheBudget) {
    LuaState state(16 * 1024 * 1024, 1'000'000);
    lua_State* L = state.get();
    luaL_openlibs(L);
    lua_getglobal(L, "string");
    lua::installPatternFunctions(L, -1);
    lua_pop(L, 1);
    state.budget().start(std::chrono::seconds(60));
    ASSERT_EQ(luaL_loadstring(L,
                              "return string.find(string.rep('a', 40), string.rep('a*', 40) "
                              ".. 'b')"),
              LUA_OK);
    EXPECT_NE(lua_pcall(L, 0, 1, 0), LUA_OK);
    EXPECT_NE(std::string(lua_tostring(L, -1)).find("instruction limit of 1000000 exceeded"),
              std::string::npos)
        << lua_tostring(L, -1);
    EXPECT_TRUE(state.budget().stopped());
    lua_pop(L, 1);
    state.budget().finish();
}

}  // namespace
}  // namespace parley::testing
