#pragma once

#include <lua.hpp>

namespace parley::lua {

// Builds the read-only `parley` table of the script LuaScript::of(L) names, and routes print to
// its log. Raises (call it under lua_pcall, after openSandbox).
//
//   parley.name, parley.config (read-only copy of the options), parley.DEFER
//   parley.hook(name, fn)            at top level only; fn(event) -> nil | false, code,
//                                    message, details (a table of extra error fields)
//   parley.command(op, fn)           at top level only; fn(cmd, ctx) -> table | false, code,
//                                    message, details | parley.DEFER | nil
//   parley.send(uid, event)          parley.broadcast(conv, event)
//   parley.post(conv, body, meta?, cmid?) -> seq
//   parley.conversation(conv) -> table | nil          parley.user(uid) -> table
//   parley.messages(conv, {before =, after =, limit =}?) -> {msgs = {...}, has_more = bool}
//   parley.context.update(type, id, {title =, status =}) -> array of conversation ids
//   parley.context.conversations(type, id, limit?) -> array of conversation ids
//   parley.kv.get(key) -> string | nil                parley.kv.set(key, value, ttl_ms?)
//   parley.kv.delete(key) -> bool                     parley.kv.incr(key, delta?, ttl_ms?) -> int
//   parley.kv.list(prefix, limit?) -> {{key=, value=}, ...} in key order
//   parley.timer.after(ms, fn) -> id   parley.timer.every(ms, fn) -> id   parley.timer.cancel(id)
//   parley.log(level, message)         parley.now() -> wall ms   parley.clock() -> monotonic ms
//   parley.json.encode(value) -> text  parley.json.decode(text) -> value
//   parley.json.array(table?) -> table (marked: encodes as a JSON array even when empty)
//   parley.text.normalize(s, spans?) / parley.text.skeleton(s, spans?): see LuaText.h
void installApi(lua_State* L);

}  // namespace parley::lua
