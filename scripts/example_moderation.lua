-- example_moderation.lua: rate limits, masked words, link limits and bans.
--
--   extensions:
--     - name: moderation
--       script: scripts/example_moderation.lua
--       options:
--         banned_words: [darn, heck]
--         max_links: 2
--         messages_per_minute: 30

local banned = {}
for _, word in ipairs(parley.config.banned_words or {}) do
  banned[word:lower()] = true
end
local maxLinks = parley.config.max_links or 3
local perMinute = parley.config.messages_per_minute or 60

-- New messages and edits alike (message.before_edit), so editing does not get past the filter.
local function screen(event)
  if parley.kv.get("banned:" .. event.sender) then
    return false, "forbidden", "you are banned from sending messages"
  end
  -- A fixed one-minute window: the counter's ttl starts with its first increment.
  if parley.kv.incr("rate:" .. event.sender, 1, 60000) > perMinute then
    return false, "rate_limited", "at most " .. perMinute .. " messages a minute"
  end
  local _, links = event.body:gsub("https?://", "")
  if links > maxLinks then
    return false, "forbidden", "at most " .. maxLinks .. " links per message"
  end
  local masked = event.body:gsub("%a+", function(word)
    if banned[word:lower()] then
      return string.rep("*", #word)
    end
  end)
  if masked ~= event.body then
    event.body = masked
    event.meta = event.meta or {}
    event.meta.moderated = true
  end
end

parley.hook("message.before_store", screen)
parley.hook("message.before_edit", screen)

-- Nobody starts a conversation with a banned user.
parley.hook("conversation.before_create", function(draft)
  for _, member in ipairs(draft.members) do
    if parley.kv.get("banned:" .. member) then
      return false, "forbidden", member .. " is banned"
    end
  end
end)

-- {"op": "mod.ban", "user": "mallory", "minutes": 60}: admins only (parleyd's config.admins).
parley.command("mod.ban", function(cmd, ctx)
  if not ctx.admin then
    return false, "forbidden", "mod.ban is for admins"
  end
  if type(cmd.user) ~= "string" then
    return false, "bad_request", "user must be a user id"
  end
  local minutes = math.tointeger(cmd.minutes) or 0
  parley.kv.set("banned:" .. cmd.user, ctx.user, minutes * 60000) -- 0: until mod.unban
  parley.send(cmd.user, { ev = "banned", minutes = minutes })
  parley.log("warn", ctx.user .. " banned " .. cmd.user)
  return { banned = cmd.user, minutes = minutes }
end)

parley.command("mod.unban", function(cmd, ctx)
  if not ctx.admin then
    return false, "forbidden", "mod.unban is for admins"
  end
  return { unbanned = type(cmd.user) == "string" and parley.kv.delete("banned:" .. cmd.user) }
end)
