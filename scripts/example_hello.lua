-- example_hello.lua: a tour of the parley API. Enable it in the config:
--
--   extensions:
--     - name: hello
--       script: scripts/example_hello.lua
--       options:
--         greeting: Hello
--
-- The top level runs once per load (and again on every reload, in a fresh state): it registers
-- hooks, commands and timers. Locals live as long as this version of the script; anything that
-- must survive a reload or a restart goes to parley.kv.

local greeting = parley.config.greeting or "Hello"
local greeted = 0 -- this version's count; kv keeps the lasting one

-- A command of our own: {"op": "hello.greet", "name": "Ann"}.
-- Return a table (the reply's fields), or false, code, message (an error reply).
parley.command("hello.greet", function(cmd, ctx)
  if type(cmd.name) ~= "string" or cmd.name == "" then
    return false, "bad_request", "name must be a non-empty string"
  end
  greeted = greeted + 1
  local times = parley.kv.incr("greeted:" .. ctx.user)
  return { greeting = greeting .. ", " .. cmd.name .. "!", times = times, since_load = greeted }
end)

-- Rewrite before storing: "/shrug text" becomes "text ¯\_(ツ)_/¯" with a meta saying so.
parley.hook("message.before_store", function(event)
  local rest = event.body:match("^/shrug%s*(.*)$")
  if rest then
    event.body = rest .. " ¯\\_(ツ)_/¯"
    event.meta = event.meta or {}
    event.meta.command = "shrug"
  end
end)

-- React after storing: the first message of a conversation gets a welcome from "system".
parley.hook("message.after_store", function(event)
  if event.sender == "system" then
    return -- our own post comes through here too
  end
  if parley.kv.incr("messages:" .. event.conv) == 1 then
    -- The cmid makes the post idempotent (one welcome per conversation, even after a crash).
    parley.post(event.conv, greeting .. "! This conversation has started.", { kind = "welcome" },
      "welcome:" .. event.conv)
  end
end)

-- Tell a user when they come online.
parley.hook("user.connected", function(presence)
  parley.send(presence.user, { ev = "hello", text = greeting .. ", " .. presence.user })
end)

-- Timers run on parleyd's timer thread, one at a time with everything else of this script.
parley.timer.after(0, function()
  parley.log("info", parley.name .. " loaded at " .. parley.now())
end)
parley.timer.every(60000, function()
  parley.log("debug", "greeted " .. greeted .. " time(s) since the last load")
end)
