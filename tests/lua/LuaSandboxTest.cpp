// One test per way a script could try to leave its sandbox. Each must fail to escape: the attempt
// is refused or ends the call with a logged error, and the server (and the script) go on.

#include <lua.hpp>

#include <future>

#include "LuaServerTest.h"
#include "extensions/Extension.h"
#include "parley/plugin.h"

namespace parley::testing {
namespace {

using nlohmann::json;

class LuaSandboxTest : public LuaServerTest {
  protected:
    // A script whose "test.run" command runs `body` (a function body: it may return a table).
    ExtensionConfig& sandbox(const std::string& body, const std::string& topLevel = "") {
        return addScript("t", topLevel + "\nparley.command('test.run', function(cmd, ctx)\n" +
                                  body + "\nend)\n");
    }

    // The call failed because of the script, and the server still answers the next command.
    void expectContained(const json& reply, const std::string& reason) {
        EXPECT_EQ(codeOf(reply), "internal") << reply;
        EXPECT_TRUE(logged("extension 't' failed in command test.run: ")) << logText();
        EXPECT_TRUE(logged(reason)) << "expected '" << reason << "' in:\n" << logText();
        EXPECT_EQ(codeOf(call("bob", {{"op", "ping"}})), "ok");
    }

    // Loading the script must fail with `reason`.
    void expectLoadRefused(const std::string& reason) {
        try {
            server();
            FAIL() << "the script loaded";
        } catch (const ExtensionError& error) {
            EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
        }
    }
};

TEST_F(LuaSandboxTest, OsExecuteIsUnreachable) {
    const auto marker = dir_ / "escaped";
    sandbox("local ok, err = pcall(function() os.execute('touch " + marker.string() +
            "') end)\n"
            "return {escaped = ok, err = err, os = type(os)}");
    auto reply = run();
    EXPECT_EQ(reply["escaped"], false);
    EXPECT_EQ(reply["os"], "nil");
    EXPECT_NE(reply["err"].get<std::string>().find("global 'os'"), std::string::npos) << reply;
    EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(LuaSandboxTest, IoOpenIsUnreachable) {
    sandbox(
        "local ok, err = pcall(function() return io.open('/etc/passwd') end)\n"
        "return {escaped = ok, err = err, io = type(io)}");
    auto reply = run();
    EXPECT_EQ(reply["escaped"], false);
    EXPECT_EQ(reply["io"], "nil");
    EXPECT_NE(reply["err"].get<std::string>().find("global 'io'"), std::string::npos) << reply;
}

TEST_F(LuaSandboxTest, RequireAndPackageAreUnreachable) {
    sandbox(
        "local ok, err = pcall(require, 'os')\n"
        "return {escaped = ok, require = type(require), package = type(package)}");
    auto reply = run();
    EXPECT_EQ(reply["escaped"], false);
    EXPECT_EQ(reply["require"], "nil");
    EXPECT_EQ(reply["package"], "nil");
}

TEST_F(LuaSandboxTest, DofileAndLoadfileAreUnreachable) {
    const auto other = writeScript("other.lua", "return 'loaded from disk'");
    sandbox("local a = pcall(dofile, '" + other +
            "')\n"
            "local b = pcall(loadfile, '" +
            other +
            "')\n"
            "local c, err = pcall(load, function() return 'return 1' end)\n"
            "return {dofile = a, loadfile = b, reader = c, err = err}");
    auto reply = run();
    EXPECT_EQ(reply["dofile"], false);
    EXPECT_EQ(reply["loadfile"], false);
    EXPECT_EQ(reply["reader"], false) << "load takes strings only";
    EXPECT_NE(reply["err"].get<std::string>().find("only string chunks"), std::string::npos);
}

TEST_F(LuaSandboxTest, StringDumpIsGoneAndItsBytecodeIsRefused) {
    // What string.dump would have produced, made outside the sandbox: refused as a script file.
    lua_State* L = luaL_newstate();
    ASSERT_EQ(luaL_loadstring(L, "parley.command('test.run', function() return {} end)"), LUA_OK);
    std::string bytecode;
    lua_dump(
        L,
        [](lua_State*, const void* data, size_t size, void* out) {
            static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
            return 0;
        },
        &bytecode, 0);
    lua_close(L);
    ExtensionConfig extension;
    extension.name = "t";
    extension.scriptPath = writeScript("dumped.luac", bytecode);
    config_.extensions.push_back(extension);
    expectLoadRefused("attempt to load a binary chunk");
}

TEST_F(LuaSandboxTest, StringDumpIsRemoved) {
    sandbox(
        "local ok = pcall(function() return string.dump(function() end) end)\n"
        "return {dump = type(string.dump), ok = ok}");
    auto reply = run();
    EXPECT_EQ(reply["dump"], "nil");
    EXPECT_EQ(reply["ok"], true) << "the reply";
}

TEST_F(LuaSandboxTest, HandMadeBytecodeIsRefusedByLoad) {
    sandbox(
        "local chunk = '\\27Lua\\x54\\x00\\x19\\x93\\r\\n\\x1a\\n\\x04\\x08\\x08'\n"
        "local fn, err = load(chunk)\n"
        "local ok, modeErr = pcall(load, chunk, 'x', 'b')\n"
        "local ok2, bothErr = pcall(load, chunk, 'x', 'bt')\n"
        "return {loaded = fn ~= nil, err = err, binaryMode = ok, modeErr = modeErr,"
        " bothMode = ok2}");
    auto reply = run();
    EXPECT_EQ(reply["loaded"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("attempt to load a binary chunk"),
              std::string::npos)
        << reply;
    EXPECT_EQ(reply["binaryMode"], false);
    EXPECT_EQ(reply["bothMode"], false);
    EXPECT_NE(reply["modeErr"].get<std::string>().find("only text chunks"), std::string::npos);
}

TEST_F(LuaSandboxTest, LoadRunsInTheScriptEnvironment) {
    sandbox(
        "local fn = load('return parley.name, x')\n"
        "local ok, err = pcall(load('y = 1'))\n"
        "local name = fn()\n"
        "return {name = name, newGlobal = ok, err = err}");
    auto reply = run();
    EXPECT_EQ(reply["name"], "t");
    EXPECT_EQ(reply["newGlobal"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("no new globals: y"), std::string::npos);
}

TEST_F(LuaSandboxTest, DebugLibraryIsUnreachable) {
    sandbox(
        "local ok = pcall(function() return debug.getregistry() end)\n"
        "local ok2 = pcall(function() return debug.sethook() end)\n"
        "return {debug = type(debug), registry = ok, sethook = ok2}");
    auto reply = run();
    EXPECT_EQ(reply["debug"], "nil");
    EXPECT_EQ(reply["registry"], false);
    EXPECT_EQ(reply["sethook"], false);
}

TEST_F(LuaSandboxTest, EnvironmentMetatableIsProtected) {
    sandbox(
        "local ok, err = pcall(setmetatable, _G, {})\n"
        "return {mt = getmetatable(_G), set = ok, err = err,"
        " sameEnv = _G == _ENV}");
    auto reply = run();
    EXPECT_EQ(reply["mt"], "locked");
    EXPECT_EQ(reply["set"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("protected metatable"), std::string::npos);
    EXPECT_EQ(reply["sameEnv"], true);
}

TEST_F(LuaSandboxTest, ParleyMetatablesAreProtected) {
    sandbox(
        "local a = pcall(setmetatable, parley, {})\n"
        "local b = pcall(setmetatable, parley.kv, {})\n"
        "local c = pcall(setmetatable, parley.config, {})\n"
        "return {mt = getmetatable(parley), kvMt = getmetatable(parley.timer),"
        " a = a, b = b, c = c}");
    auto reply = run();
    EXPECT_EQ(reply["mt"], "locked");
    EXPECT_EQ(reply["kvMt"], "locked");
    EXPECT_EQ(reply["a"], false);
    EXPECT_EQ(reply["b"], false);
    EXPECT_EQ(reply["c"], false);
}

TEST_F(LuaSandboxTest, RawsetRefusesTheEnvironmentAndTheApi) {
    sandbox(
        "local a, errA = pcall(rawset, _G, 'sneaky', 1)\n"
        "local b = pcall(rawset, parley, 'send', print)\n"
        "local c = pcall(rawset, parley.kv, 'get', print)\n"
        "local d = pcall(rawset, parley.config, 'limit', 99)\n"
        "local own = rawset({}, 'x', 1).x\n"
        "return {a = a, errA = errA, b = b, c = c, d = d, own = own,"
        " sneaky = rawget(_G, 'sneaky') == nil, send = parley.send ~= print}");
    auto reply = run();
    EXPECT_EQ(reply["a"], false);
    EXPECT_NE(reply["errA"].get<std::string>().find("read-only"), std::string::npos);
    EXPECT_EQ(reply["b"], false);
    EXPECT_EQ(reply["c"], false);
    EXPECT_EQ(reply["d"], false);
    EXPECT_EQ(reply["own"], 1) << "rawset still works on the script's own tables";
    EXPECT_EQ(reply["sneaky"], true);
    EXPECT_EQ(reply["send"], true);
}

TEST_F(LuaSandboxTest, ApiCannotBeOverwritten) {
    sandbox(
        "local a, errA = pcall(function() parley = nil end)\n"
        "local b, errB = pcall(function() parley.send = nil end)\n"
        "local c = pcall(function() parley.kv.get = function() end end)\n"
        "local d = pcall(function() parley.config.limit = 1 end)\n"
        "local e = pcall(function() _G.parley = {} end)\n"
        "return {a = a, errA = errA, b = b, errB = errB, c = c, d = d, e = e,"
        " still = type(parley.send)}",
        "");
    config_.extensions.back().options = {{"limit", 5}};
    auto reply = run();
    EXPECT_EQ(reply["a"], false);
    EXPECT_NE(reply["errA"].get<std::string>().find("global 'parley' is read-only"),
              std::string::npos)
        << reply;
    EXPECT_EQ(reply["b"], false);
    EXPECT_NE(reply["errB"].get<std::string>().find("parley is read-only"), std::string::npos);
    EXPECT_EQ(reply["c"], false);
    EXPECT_EQ(reply["d"], false);
    EXPECT_EQ(reply["e"], false);
    EXPECT_EQ(reply["still"], "function");
}

TEST_F(LuaSandboxTest, NewGlobalsAreAnError) {
    sandbox(
        "local ok, err = pcall(function() counter = 1 end)\n"
        "local ok2 = pcall(function() _G[1] = true end)\n"
        "return {escaped = ok, err = err, ok2 = ok2}");
    auto reply = run();
    EXPECT_EQ(reply["escaped"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("no new globals: counter"), std::string::npos);
    EXPECT_EQ(reply["ok2"], false);
}

TEST_F(LuaSandboxTest, NewGlobalAtTopLevelFailsTheLoad) {
    addScript("t", "helper = function() end");
    expectLoadRefused("no new globals: helper");
}

TEST_F(LuaSandboxTest, OverwritingStandardGlobalsIsAnError) {
    sandbox("local ok, err = pcall(function() pcall = nil end) return {escaped = ok, err = err}");
    auto reply = run();
    EXPECT_EQ(reply["escaped"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("global 'pcall' is read-only"),
              std::string::npos);
}

TEST_F(LuaSandboxTest, InfiniteLoopRunsOutOfInstructions) {
    sandbox("while true do end").instructionLimit = 200000;
    expectContained(run(), "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, InfiniteLoopRunsOutOfTime) {
    config_.hooks["command"] = HookPolicyConfig{100, true};
    sandbox("while true do end").instructionLimit = int64_t{1} << 40;
    expectContained(run(), "time budget of 100 ms exceeded");
}

TEST_F(LuaSandboxTest, InfiniteLoopInsidePcallCannotBeSwallowed) {
    sandbox(
        "local ok = pcall(function() while true do end end)\n"
        "return {survived = true}")
        .instructionLimit = 200000;
    expectContained(run(), "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, PcallRetryLoopCannotOutlastTheBudget) {
    config_.hooks["command"] = HookPolicyConfig{100, true};
    sandbox(
        "while true do pcall(function() while true do end end) end\n"
        "return {survived = true}")
        .instructionLimit = int64_t{1} << 40;
    expectContained(run(), "time budget of 100 ms exceeded");
}

TEST_F(LuaSandboxTest, XpcallHandlerCannotOutlastTheBudget) {
    sandbox(
        "while true do xpcall(function() while true do end end,"
        " function(e) while true do end end) end")
        .instructionLimit = 200000;
    expectContained(run(), "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, InfiniteLoopInsideCoroutineIsStopped) {
    sandbox(
        "local co = coroutine.create(function() while true do end end)\n"
        "local ok = coroutine.resume(co)\n"
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) "
        "end\n"
        "return {survived = true}")
        .instructionLimit = 200000;
    expectContained(run(), "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, CoroutineWrapLoopIsStopped) {
    sandbox("coroutine.wrap(function() while true do end end)()").instructionLimit = 200000;
    expectContained(run(), "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, CloseHandlerOfAKilledCoroutineNeverRunsUnwatched) {
    // A coroutine killed by the budget hook is left with hooks off: closing it must not run its
    // __close handler, neither through coroutine.close in a later call nor through wrap.
    sandbox(
        "if cmd.step == 'kill' then\n"
        "  victim = coroutine.create(function()\n"
        "    local guard <close> = setmetatable({}, {__close = function()"
        " while true do end end})\n"
        "    while true do end\n"
        "  end)\n"
        "  coroutine.resume(victim)\n"
        "end\n"
        "if cmd.step == 'close' then\n"
        "  local ok, err = coroutine.close(victim)\n"
        "  return {closed = ok, status = coroutine.status(victim)}\n"
        "end\n"
        "if cmd.step == 'wrap' then\n"
        "  coroutine.wrap(function()\n"
        "    local guard <close> = setmetatable({}, {__close = function()"
        " while true do end end})\n"
        "    while true do end\n"
        "  end)()\n"
        "end\n"
        "return {}",
        "local victim\n")
        .instructionLimit = 200000;
    EXPECT_EQ(codeOf(call("alice", {{"op", "test.run"}, {"step", "kill"}})), "internal");
    auto closed = call("alice", {{"op", "test.run"}, {"step", "close"}});
    EXPECT_EQ(closed["closed"], false) << closed;
    EXPECT_EQ(closed["status"], "dead");
    expectContained(call("alice", {{"op", "test.run"}, {"step", "wrap"}}),
                    "instruction limit of 200000 exceeded");
}

TEST_F(LuaSandboxTest, CloseHandlersStillRunNormally) {
    sandbox(
        "local log = {}\n"
        "do local a <close> = setmetatable({}, {__close = function() log[#log + 1] = 'a' end}) "
        "end\n"
        "pcall(function()\n"
        "  local b <close> = setmetatable({}, {__close = function() log[#log + 1] = 'b' end})\n"
        "  error('x')\n"
        "end)\n"
        "local co = coroutine.create(function()\n"
        "  local c <close> = setmetatable({}, {__close = function() log[#log + 1] = 'c' end})\n"
        "  coroutine.yield()\n"
        "end)\n"
        "coroutine.resume(co)\n"
        "coroutine.close(co)\n"
        "local ok, value = xpcall(function() error('y') end, function(e) return 'handled' end)\n"
        "return {log = log, handled = value}");
    auto reply = run();
    EXPECT_EQ(reply["log"], json({"a", "b", "c"}));
    EXPECT_EQ(reply["handled"], "handled");
}

TEST_F(LuaSandboxTest, BudgetIsResetForTheNextCall) {
    sandbox(
        "if cmd.spin then while true do end end\n"
        "local n = 0 for i = 1, 100000 do n = n + i end\n"
        "return {n = n}")
        .instructionLimit = 1000000;
    EXPECT_EQ(codeOf(call("alice", {{"op", "test.run"}, {"spin", true}})), "internal");
    auto reply = run();
    EXPECT_EQ(reply["n"], 5000050000LL) << reply;
}

TEST_F(LuaSandboxTest, PathologicalPatternIsStopped) {
    config_.hooks["command"] = HookPolicyConfig{200, true};
    // Backtracks for ages in the stock C matcher, which no instruction hook sees.
    sandbox("return {found = string.find(string.rep('a', 60), string.rep('a*', 60) .. 'b')}")
        .instructionLimit = int64_t{1} << 40;
    expectContained(run(), "time budget of 200 ms exceeded");
}

TEST_F(LuaSandboxTest, PatternFunctionsStillBehaveAsLua) {
    sandbox(
        "local words = {}\n"
        "for w in ('one two  three'):gmatch('%a+') do words[#words + 1] = w end\n"
        "local k, v = ('key = value'):match('^(%w+)%s*=%s*(%w+)$')\n"
        "local s, e = ('hello world'):find('o w', 1, true)\n"
        "local replaced, count = ('hello world'):gsub('o', '0')\n"
        "local swapped = ('hello world'):gsub('(%w+) (%w+)', '%2 %1')\n"
        "local viaFn = ('abc'):gsub('%w', function(c) return c:upper() .. '.' end)\n"
        "local viaTable = ('$a $b'):gsub('%$(%w)', {a = 'A'})\n"
        "local balanced = ('f(a(b)c) x'):match('%b()')\n"
        "local frontier = ('THE (quick) fox'):gsub('%f[%a]%a+', 'W')\n"
        "local position = ('abc'):match('()b()')\n"
        "local badOk, badErr = pcall(string.find, 'x', '[a')\n"
        "return {words = words, k = k, v = v, s = s, e = e, replaced = replaced,"
        " count = count, swapped = swapped, viaFn = viaFn, viaTable = viaTable,"
        " balanced = balanced, frontier = frontier, position = position,"
        " badOk = badOk, badErr = badErr, empty = ('abc'):find(''),"
        " anchored = ('abc'):find('^b'), tail = ('abc'):find('c$')}");
    auto reply = run();
    EXPECT_EQ(reply["words"], json({"one", "two", "three"}));
    EXPECT_EQ(reply["k"], "key");
    EXPECT_EQ(reply["v"], "value");
    EXPECT_EQ(reply["s"], 5);
    EXPECT_EQ(reply["e"], 7);
    EXPECT_EQ(reply["replaced"], "hell0 w0rld");
    EXPECT_EQ(reply["count"], 2);
    EXPECT_EQ(reply["swapped"], "world hello");
    EXPECT_EQ(reply["viaFn"], "A.B.C.");
    EXPECT_EQ(reply["viaTable"], "A $b");
    EXPECT_EQ(reply["balanced"], "(a(b)c)");
    EXPECT_EQ(reply["frontier"], "W (W) W");
    EXPECT_EQ(reply["position"], 2);
    EXPECT_EQ(reply["badOk"], false);
    EXPECT_NE(reply["badErr"].get<std::string>().find("missing ']'"), std::string::npos);
    EXPECT_EQ(reply["empty"], 1);
    EXPECT_TRUE(reply["anchored"].is_null());
    EXPECT_EQ(reply["tail"], 3);
}

TEST_F(LuaSandboxTest, StringRepBombRunsOutOfMemory) {
    sandbox("local s = string.rep('x', 1 << 30) return {len = #s}").memoryLimitBytes =
        4 * 1024 * 1024;
    expectContained(run(), "memory limit of 4194304 bytes exceeded");
}

TEST_F(LuaSandboxTest, TableGrowthRunsOutOfMemory) {
    sandbox(
        "local t = {} local i = 0\n"
        "while true do i = i + 1 t[i] = string.rep('y', 100) .. i end")
        .memoryLimitBytes = 4 * 1024 * 1024;
    expectContained(run(), "memory limit of 4194304 bytes exceeded");
}

TEST_F(LuaSandboxTest, MemoryBombInsidePcallCannotBeSwallowed) {
    sandbox(
        "pcall(function()\n"
        "  local t = {} local i = 0\n"
        "  while true do i = i + 1 t[i] = {i, i, i} end\n"
        "end)\n"
        "pcall(string.rep, 'x', 1 << 30)\n"
        "return {survived = true}")
        .memoryLimitBytes = 4 * 1024 * 1024;
    expectContained(run(), "memory limit of 4194304 bytes exceeded");
}

TEST_F(LuaSandboxTest, ScriptRecoversAfterItsMemoryBomb) {
    sandbox(
        "if cmd.bomb then local t = {} while true do t[#t + 1] = {} end end\n"
        "return {fine = true}")
        .memoryLimitBytes = 4 * 1024 * 1024;
    EXPECT_EQ(codeOf(call("alice", {{"op", "test.run"}, {"bomb", true}})), "internal");
    EXPECT_EQ(run()["fine"], true) << "the garbage of the failed call is collected";
}

TEST_F(LuaSandboxTest, DeepRecursionIsAnError) {
    sandbox(
        "local function down(n) return 1 + down(n + 1) end\n"
        "local ok, err = pcall(down, 1)\n"
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end})\n"
        "local ok2, err2 = pcall(function() return t.x end)\n"
        "return {ok1 = ok, err = err, ok2 = ok2, err2 = err2}")
        .memoryLimitBytes = 256 * 1024 * 1024;  // so Lua's own stack limit comes first
    auto reply = run();
    ASSERT_TRUE(reply["ok1"].is_boolean()) << reply;
    EXPECT_EQ(reply["ok1"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("stack overflow"), std::string::npos) << reply;
    EXPECT_EQ(reply["ok2"], false);
    EXPECT_NE(reply["err2"].get<std::string>().find("stack overflow"), std::string::npos) << reply;
    EXPECT_EQ(codeOf(call("bob", {{"op", "ping"}})), "ok");
}

TEST_F(LuaSandboxTest, UncaughtDeepRecursionFailsTheCall) {
    sandbox("local function down(n) return 1 + down(n + 1) end return {n = down(1)}");
    auto reply = run();
    EXPECT_EQ(codeOf(reply), "internal");
    EXPECT_TRUE(logged("extension 't' failed in command test.run")) << logText();
    EXPECT_EQ(codeOf(call("bob", {{"op", "ping"}})), "ok");
}

TEST_F(LuaSandboxTest, ErrorObjectWithLoopingTostringIsNotCalled) {
    sandbox("error(setmetatable({}, {__tostring = function() while true do end end}))");
    expectContained(run(), "(error object: table)");
}

TEST_F(LuaSandboxTest, ErrorObjectInBeforeStoreHookFailsOpen) {
    addScript("t",
              "parley.hook('message.before_store', function(e)\n"
              "  error(setmetatable({}, {__tostring = function() while true do end end,"
              " __index = function() while true do end end}))\n"
              "end)");
    const std::string conv = openDirect("alice", "bob");
    auto reply = sendMessage("alice", conv, "m1", "hello");
    EXPECT_TRUE(reply["ok"]) << reply;
    EXPECT_TRUE(logged("(error object: table)")) << logText();
}

TEST_F(LuaSandboxTest, FinalizersCannotBeInstalled) {
    sandbox(
        "local ok, err = pcall(setmetatable, {}, {__gc = function() while true do end end})\n"
        "return {installed = ok, err = err}");
    auto reply = run();
    EXPECT_EQ(reply["installed"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("__gc metamethods are not allowed"),
              std::string::npos);
}

TEST_F(LuaSandboxTest, LateGcFieldNeverRunsAtCloseOrReload) {
    // Lua only finalizes objects whose metatable had __gc when it was set; a field added later
    // must not run at close either. Unloading and reloading finish (bounded).
    addScript("t",
              "local keep = {}\n"
              "for i = 1, 100 do\n"
              "  local mt = {}\n"
              "  keep[i] = setmetatable({}, mt)\n"
              "  mt.__gc = function() while true do end end\n"
              "end\n"
              "parley.command('test.run', function() return {n = #keep} end)");
    EXPECT_EQ(run()["n"], 100);
    auto reloaded = std::async(std::launch::async, [&] { return server().reloadScripts(); });
    ASSERT_EQ(reloaded.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(reloaded.get()["reloaded"], json({"t"}));
    auto stopped = std::async(std::launch::async, [&] { server_.reset(); });
    ASSERT_EQ(stopped.wait_for(std::chrono::seconds(20)), std::future_status::ready);
}

TEST_F(LuaSandboxTest, CollectgarbageIsLimitedToCount) {
    sandbox(
        "local ok, err = pcall(collectgarbage, 'stop')\n"
        "local ok2 = pcall(collectgarbage)\n"
        "local ok3 = pcall(collectgarbage, 'step', 1000)\n"
        "return {stop = ok, err = err, collect = ok2, step = ok3,"
        " count = collectgarbage('count')}");
    auto reply = run();
    EXPECT_EQ(reply["stop"], false);
    EXPECT_NE(reply["err"].get<std::string>().find("only \"count\""), std::string::npos);
    EXPECT_EQ(reply["collect"], false);
    EXPECT_EQ(reply["step"], false);
    EXPECT_GT(reply["count"].get<double>(), 0.0);
}

TEST_F(LuaSandboxTest, ArgumentsAreCheckedWithClearErrors) {
    sandbox(
        "local function err(f, ...) local ok, e = pcall(f, ...) return e end\n"
        "return {\n"
        "  set = err(parley.kv.set, 'k'),\n"
        "  get = err(parley.kv.get, 42),\n"
        "  send = err(parley.send, 'bob', 'not a table'),\n"
        "  encode = err(parley.json.encode, {f = print}),\n"
        "  after = err(parley.timer.after, -1, function() end),\n"
        "  hook = err(parley.hook, 'message.before_store', function() end),\n"
        "  log = err(parley.log, 'loud', 'x'),\n"
        "  post = err(parley.post, 'nope', 'hi'),\n"
        "}");
    auto reply = run();
    EXPECT_EQ(reply["set"], "parley.kv.set: the value must be a string (got no value)");
    EXPECT_EQ(reply["get"], "parley.kv.get: the key must be a string (got number)");
    EXPECT_EQ(reply["send"], "parley.send: the event must be a table (got string)");
    EXPECT_EQ(reply["encode"], "parley.json.encode: value: cannot encode a function");
    EXPECT_EQ(reply["after"], "parley.timer.after: the delay must not be negative");
    EXPECT_NE(reply["hook"].get<std::string>().find("parley.hook: hooks are registered while"),
              std::string::npos);
    EXPECT_NE(reply["log"].get<std::string>().find("parley.log: the level must be"),
              std::string::npos);
    EXPECT_EQ(reply["post"], "not_found: no conversation nope");
}

TEST_F(LuaSandboxTest, PrintGoesToTheLog) {
    sandbox("print('hello from', parley.name, 42) return {}");
    EXPECT_TRUE(run()["ok"]);
    EXPECT_TRUE(logged("[t] hello from\tt\t42")) << logText();
}

TEST_F(LuaSandboxTest, ApiLevelIsThePluginAbisLevel) {
    sandbox("return {level = parley.api_level, kind = math.type(parley.api_level)}");
    const auto reply = run();
    EXPECT_EQ(reply["level"], PARLEY_PLUGIN_ABI_LEVEL);
    EXPECT_EQ(reply["kind"], "integer");
}

TEST_F(LuaSandboxTest, ScriptsDoNotShareState) {
    addScript("one",
              "local seen = 0\n"
              "parley.command('one.bump', function() seen = seen + 1 string.upper = nil"
              " return {seen = seen} end)");
    addScript("two",
              "parley.command('two.check', function() return {upper = type(string.upper),"
              " name = parley.name} end)");
    EXPECT_EQ(call("alice", {{"op", "one.bump"}})["seen"], 1);
    auto reply = call("alice", {{"op", "two.check"}});
    EXPECT_EQ(reply["upper"], "function");
    EXPECT_EQ(reply["name"], "two");
}

}  // namespace
}  // namespace parley::testing
