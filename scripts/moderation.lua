-- moderation.lua: blocking, reports, a content filter, rate limits, mutes and suspensions, and an
-- audit log of every moderation action. docs/listings-and-moderation.md describes it.
--
--   extensions:
--     - name: moderation
--       script: scripts/moderation.lua
--       options:
--         messages_per_minute: 30      # per user; 0 turns the limit off
--         conversations_per_hour: 20   # new conversations per user; 0 turns it off
--         words: [scam, "wire transfer"]  # refused or masked, case-insensitive
--         word_action: mask            # or reject
--         max_links: 3                 # per message; 0 turns it off
--         redact_first_contact: [listing]  # context types whose first contact hides links and phones
--         evidence: 5                  # messages kept with a report
--
-- Everything it keeps is in its key-value store:
--   block:<a>:<b>      a blocks b                  sanction:<uid>  mute/suspension, expires
--   hide:<a>:<b>:<a>, hide:<b>:<a>:<a>  the same block, listed from either side; hide-index:
--                      the blocks of earlier versions have theirs
--   report:<n>         a report (n zero-padded)    open:<n>        an open report (the queue)
--   audit:<age>:<m>    one moderation action, newest first (age = 9999999999999 - time,
--                      m = 9999999999 - its number: of one millisecond, the last is first)
--   rl:<kind>:<uid>:<window>  rate-limit counters (expire with their window)
--   spoke:<conv>:<uid>  uid has written in a first-contact conversation

local options = parley.config
local MESSAGES_PER_MINUTE = options.messages_per_minute or 30
local CONVERSATIONS_PER_HOUR = options.conversations_per_hour or 20
local WORD_ACTION = options.word_action or "mask"
local MAX_LINKS = options.max_links or 3
local EVIDENCE = options.evidence or 5

local FIRST_CONTACT = {}
for _, contextType in ipairs(options.redact_first_contact or { "listing" }) do
  FIRST_CONTACT[contextType] = true
end

-- Words are compared by their confusables skeleton (parley.text.skeleton): capitals, accents in
-- other case ("CRÉDIT"), full-width forms, invisible characters and look-alike letters from other
-- scripts (Cyrillic "ѕсаm") all reach the same skeleton as the word.
local WORDS = {}
for _, word in ipairs(options.words or {}) do
  local skeleton = parley.text.skeleton(word)
  if skeleton ~= "" then
    WORDS[#WORDS + 1] = skeleton
  end
end

-- Helpers -------------------------------------------------------------------------------------

local function json(value) return parley.json.encode(value) end
local function decode(text) return text and parley.json.decode(text) or nil end

local function isUid(value)
  return type(value) == "string" and #value >= 1 and #value <= 64 and
    not value:find("[^%w%._@%-]")
end

local function audit(actor, action, fields)
  local entry = fields or {}
  entry.actor, entry.action, entry.ts = actor, action, parley.now()
  local n = parley.kv.incr("audit-seq")
  parley.kv.set(string.format("audit:%013d:%010d", 9999999999999 - entry.ts, 9999999999 - n),
    json(entry))
  parley.log("info", string.format("moderation: %s by %s %s", action, actor, json(fields or {})))
end

-- A fixed window counter: how many in this window, and when the window ends.
local function countInWindow(kind, uid, windowMs)
  local now = parley.now()
  local window = now // windowMs
  local count = parley.kv.incr(string.format("rl:%s:%s:%d", kind, uid, window), 1, windowMs)
  return count, (window + 1) * windowMs - now
end

local function sanctionOf(uid)
  local sanction = decode(parley.kv.get("sanction:" .. uid))
  if not sanction then
    return nil
  end
  local now = parley.now()
  if (sanction.suspended_until or 0) > now then
    return "suspended", sanction.suspended_until, sanction.reason
  end
  if (sanction.muted_until or 0) > now then
    return "muted", sanction.muted_until, sanction.reason
  end
  return nil
end

local function blockedEitherWay(a, b)
  return parley.kv.get("block:" .. a .. ":" .. b) ~= nil or
    parley.kv.get("block:" .. b .. ":" .. a) ~= nil
end

-- When a blocks b, the block is also kept as hide:<a>:<b>:<a> and hide:<b>:<a>:<a> (the last
-- part: who blocked), so everyone a user must not see or be seen by, either way, is one prefix
-- read: typing and read events pay one query, whatever the group's size.
local function hideKeys(blocker, blocked)
  return "hide:" .. blocker .. ":" .. blocked .. ":" .. blocker,
    "hide:" .. blocked .. ":" .. blocker .. ":" .. blocker
end

local function blockedSet(uid)
  local found = {}
  local prefix = "hide:" .. uid .. ":"
  for _, entry in ipairs(parley.kv.list(prefix, 1000)) do
    found[entry.key:sub(#prefix + 1):match("^[^:]+")] = true
  end
  return found
end

-- Blocks stored by a version of this script without the hide: entries get them, once.
parley.timer.after(0, function()
  if parley.kv.get("hide-index") then
    return
  end
  local blocks = parley.kv.list("block:", 1000)
  for _, entry in ipairs(blocks) do
    local blocker, blocked = entry.key:match("^block:([^:]+):([^:]+)$")
    if blocker then
      local mine, theirs = hideKeys(blocker, blocked)
      parley.kv.set(mine, entry.value)
      parley.kv.set(theirs, entry.value)
    end
  end
  if #blocks < 1000 then
    parley.kv.set("hide-index", "1")
  else
    parley.log("warn", "moderation: more than 1000 blocks were stored before typing and read "
      .. "events were hidden; the first 1000 hide them now, the others once made again")
  end
end)

local function otherMember(members, self)
  for _, uid in ipairs(members) do
    if uid ~= self then
      return uid
    end
  end
end

-- The content filter -------------------------------------------------------------------------
--
-- Every rule matches the folded text (parley.text: the skeleton for words and links, the
-- normalized text for phone numbers), so "HTTPS://", "WWW.", "ｓｃａｍ" or "sc<zero-width space>am"
-- are caught like their plain forms, and replaces what it matched in the original text: the stored
-- message is the sender's text with only the matched spans replaced.

local LINK = "https?://[%w%-%._~:/%?#%[%]@!%$&'%(%)%*%+,;=%%]+"
local BARE_LINK = "www%.[%w%-%.]+%.%a%a+[%w%-%._~:/%?#@!%$&'%*%+,;=%%]*"
local PHONE = "[%+%(]?%d[%d %-%.%(%)]*%d"

-- Spans {first, last, replacement} of `text` (byte positions) where `pattern` matches `folded`;
-- first and last map folded bytes back to the text (parley.text's spans).
local function findSpans(spans, folded, first, last, pattern, replacement)
  local init = 1
  while true do
    local s, e = folded:find(pattern, init)
    if not s then
      return spans
    end
    if e >= s then
      local found = replacement
      if type(replacement) == "function" then
        found = replacement(folded:sub(s, e))
      end
      if found then
        spans[#spans + 1] = { first[s], last[e], found }
      end
    end
    init = math.max(e, s) + 1
  end
end

-- The text with each span replaced; a span overlapping an earlier one is left out.
local function replaceSpans(text, spans)
  table.sort(spans, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] > b[2]) end)
  local out, kept, position = {}, 0, 1
  for _, span in ipairs(spans) do
    if span[1] >= position then
      out[#out + 1] = text:sub(position, span[1] - 1)
      out[#out + 1] = span[3]
      position = span[2] + 1
      kept = kept + 1
    end
  end
  out[#out + 1] = text:sub(position)
  return table.concat(out), kept
end

local function linkSpans(text)
  local skeleton, first, last = parley.text.skeleton(text, true)
  local spans = findSpans({}, skeleton, first, last, LINK, "[link removed]")
  return findSpans(spans, skeleton, first, last, BARE_LINK, "[link removed]")
end

local function countLinks(text)
  local _, count = replaceSpans(text, linkSpans(text))
  return count
end

local function redactContacts(text)
  local spans = linkSpans(text)
  -- Phone numbers: at least 7 digits in a run of digits, spaces and separators.
  local normalized, first, last = parley.text.normalize(text, true)
  findSpans(spans, normalized, first, last, PHONE, function(found)
    local digits = found:gsub("%D", "")
    return #digits >= 7 and "[phone removed]" or nil
  end)
  return (replaceSpans(text, spans))
end

-- Whether the character of the original text that folded byte i came from is part of a word: an
-- ASCII letter or digit, or any character outside the punctuation, symbol and emoji blocks.
local function isWordCharacter(text, folded, first, i)
  local byte = folded:byte(i)
  if not byte then
    return false
  end
  if byte < 128 then
    return string.char(byte):find("%w") ~= nil
  end
  local code = utf8.codepoint(text, first[i])
  return not (code < 0xC0 or code == 0xD7 or code == 0xF7 or
    (code >= 0x2000 and code <= 0x2BFF) or (code >= 0x3000 and code <= 0x303F) or
    (code >= 0xFE30 and code <= 0xFE4F) or (code >= 0x1F000 and code <= 0x1FAFF))
end

-- Whole words, compared by skeleton; returns the text with them masked (one * per character the
-- reader saw), and whether any matched.
local function maskWords(text)
  if #WORDS == 0 then
    return text, false
  end
  local skeleton, first, last = parley.text.skeleton(text, true)
  local spans = {}
  for _, word in ipairs(WORDS) do
    local init = 1
    while true do
      local s, e = skeleton:find(word, init, true)
      if not s then
        break
      end
      -- The byte before may end a character of several bytes: classify that character.
      local before = s > 1 and utf8.offset(skeleton, 0, s - 1) or nil
      if not (before and isWordCharacter(text, skeleton, first, before)) and
          not isWordCharacter(text, skeleton, first, e + 1) then
        local original = text:sub(first[s], last[e])
        spans[#spans + 1] = { first[s], last[e],
          string.rep("*", utf8.len(parley.text.normalize(original))) }
      end
      init = s + 1
    end
  end
  if #spans == 0 then
    return text, false
  end
  return (replaceSpans(text, spans)), true
end

-- Hooks ---------------------------------------------------------------------------------------

-- Every new message, and every edit of one (message.before_edit: the same fields, the new text,
-- and seq): an edit is screened as a new message would be, so editing cannot smuggle in what
-- sending would have masked or refused, and edits count against the same rate limit.
local function screen(message)
  local sanction, untilTs, reason = sanctionOf(message.sender)
  if sanction then
    return false, "forbidden", "you are " .. sanction .. " until " .. untilTs,
      { moderation = sanction, ["until"] = untilTs, reason = reason }
  end
  if MESSAGES_PER_MINUTE > 0 then
    local count, retryAfter = countInWindow("msg", message.sender, 60000)
    if count > MESSAGES_PER_MINUTE then
      return false, "rate_limited", "at most " .. MESSAGES_PER_MINUTE .. " messages a minute",
        { retry_after_ms = retryAfter }
    end
  end
  if message.kind == "direct" then
    local peer = otherMember(message.members, message.sender)
    if peer and blockedEitherWay(message.sender, peer) then
      return false, "forbidden", "not allowed"
    end
  end
  if MAX_LINKS > 0 and countLinks(message.body) > MAX_LINKS then
    return false, "forbidden", "at most " .. MAX_LINKS .. " links in a message"
  end
  local masked, hit = maskWords(message.body)
  if hit then
    if WORD_ACTION == "reject" then
      return false, "forbidden", "your message contains a word that is not allowed here"
    end
    message.body = masked
  end
  -- First contact about a listing: until both members have written, no links or phone numbers
  -- (the commonest way marketplace scams move a buyer off the platform).
  if message.context and FIRST_CONTACT[message.context.type] then
    local peer = otherMember(message.members, message.sender)
    if peer and not parley.kv.get("spoke:" .. message.conv .. ":" .. peer) then
      local redacted = redactContacts(message.body)
      if redacted ~= message.body then
        message.body = redacted
        message.meta = message.meta or {}
        message.meta.redacted = true
      end
    end
    -- Noted before the store (an after hook would need a query for the context): a message
    -- refused later by another extension still counts as having spoken, which only ends the
    -- peer's redaction a little early.
    parley.kv.set("spoke:" .. message.conv .. ":" .. message.sender, "1")
  end
end

parley.hook("message.before_store", screen)
parley.hook("message.before_edit", screen)

-- A muted or suspended user starts no conversation (opening an existing one is reading it).
parley.hook("conversation.before_create", function(conv)
  local sanction, untilTs, reason = sanctionOf(conv.creator)
  if sanction then
    return false, "forbidden", "you are " .. sanction .. " until " .. untilTs,
      { moderation = sanction, ["until"] = untilTs, reason = reason }
  end
  if CONVERSATIONS_PER_HOUR > 0 then
    local count, retryAfter = countInWindow("conv", conv.creator, 3600000)
    if count > CONVERSATIONS_PER_HOUR then
      return false, "rate_limited", "at most " .. CONVERSATIONS_PER_HOUR ..
        " new conversations an hour", { retry_after_ms = retryAfter }
    end
  end
end)

-- Every conv.open, of a new 1:1 or of an existing one: none between people who blocked each
-- other (1:1 conversations are only ever created by conv.open, so this covers creation too).
parley.hook("conversation.before_open", function(open)
  local peer = otherMember(open.members, open.user)
  if peer and blockedEitherWay(open.user, peer) then
    return false, "forbidden", "not allowed"
  end
end)

-- Typing and read events are not delivered between people who blocked each other, in any
-- conversation they share (groups included), either way.
parley.hook("event.before_deliver", function(event)
  local hidden = blockedSet(event.user)
  if next(hidden) == nil then
    return
  end
  local kept = {}
  for _, uid in ipairs(event.recipients) do
    if not hidden[uid] then
      kept[#kept + 1] = uid
    end
  end
  event.recipients = kept
end)

-- Users' commands -----------------------------------------------------------------------------

parley.command("mod.block", function(cmd, ctx)
  if not isUid(cmd.user) or cmd.user == ctx.user then
    return false, "bad_request", "\"user\" must be another user's id"
  end
  local now = tostring(parley.now())
  local mine, theirs = hideKeys(ctx.user, cmd.user)
  parley.kv.set(mine, now)
  parley.kv.set(theirs, now)
  parley.kv.set("block:" .. ctx.user .. ":" .. cmd.user, now)
  audit(ctx.user, "block", { user = cmd.user })
  return { blocked = cmd.user }
end)

parley.command("mod.unblock", function(cmd, ctx)
  if not isUid(cmd.user) then
    return false, "bad_request", "\"user\" must be a user id"
  end
  local wasBlocked = parley.kv.delete("block:" .. ctx.user .. ":" .. cmd.user)
  local mine, theirs = hideKeys(ctx.user, cmd.user)
  parley.kv.delete(mine)
  parley.kv.delete(theirs)
  if wasBlocked then
    audit(ctx.user, "unblock", { user = cmd.user })
  end
  return { unblocked = cmd.user, was_blocked = wasBlocked }
end)

parley.command("mod.blocked", function(cmd, ctx)
  local prefix = "block:" .. ctx.user .. ":"
  local users = parley.json.array()
  for _, entry in ipairs(parley.kv.list(prefix, 1000)) do
    users[#users + 1] = entry.key:sub(#prefix + 1)
  end
  return { users = users }
end)

parley.command("mod.report", function(cmd, ctx)
  if type(cmd.conv) ~= "string" then
    return false, "bad_request", "\"conv\" must be a conversation id"
  end
  if type(cmd.reason) ~= "string" or #cmd.reason == 0 or utf8.len(cmd.reason) > 1000 then
    return false, "bad_request", "\"reason\" must be 1-1000 characters"
  end
  if cmd.seq ~= nil and math.type(cmd.seq) ~= "integer" then
    return false, "bad_request", "\"seq\" must be an integer"
  end
  if cmd.user ~= nil and not isUid(cmd.user) then
    return false, "bad_request", "\"user\" must be a user id"
  end
  local conv = parley.conversation(cmd.conv)
  local member = false
  for _, m in ipairs(conv and conv.members or {}) do
    member = member or m.user == ctx.user
  end
  if not member then
    return false, "forbidden", "you can only report conversations you are in"
  end
  -- Evidence: the reported message and the few before it, as they are now.
  local query = { limit = EVIDENCE }
  if cmd.seq then
    query.before = cmd.seq + 1
  end
  local evidence = parley.messages(cmd.conv, query).msgs
  local n = parley.kv.incr("report-seq")
  local id = string.format("%010d", n)
  local report = {
    report = id, status = "open", reporter = ctx.user, conv = cmd.conv, seq = cmd.seq,
    user = cmd.user, reason = cmd.reason, created_at = parley.now(), evidence = evidence,
    context = conv.context,
  }
  parley.kv.set("report:" .. id, json(report))
  parley.kv.set("open:" .. id, "1")
  audit(ctx.user, "report", { report = id, conv = cmd.conv, user = cmd.user, seq = cmd.seq })
  return { report = id }
end)

-- Admins' commands ----------------------------------------------------------------------------

local function admin(fn)
  return function(cmd, ctx)
    if not ctx.admin then
      return false, "forbidden", "moderation commands are for admins"
    end
    return fn(cmd, ctx)
  end
end

-- The queue: open reports, oldest first; "all" lists every report, oldest first.
parley.command("mod.reports", admin(function(cmd)
  local wanted = cmd.status or "open"
  if wanted ~= "open" and wanted ~= "all" then
    return false, "bad_request", "\"status\" must be open or all"
  end
  local limit = math.min(math.type(cmd.limit) == "integer" and math.max(cmd.limit, 1) or 100, 1000)
  local reports = parley.json.array()
  for _, entry in ipairs(parley.kv.list(wanted == "open" and "open:" or "report:", limit)) do
    local id = entry.key:match(":(%d+)$")
    local report = decode(parley.kv.get("report:" .. id))
    if report then
      report.evidence = nil
      reports[#reports + 1] = report
    end
  end
  return { reports = reports }
end))

parley.command("mod.report.show", admin(function(cmd)
  local report = type(cmd.report) == "string" and decode(parley.kv.get("report:" .. cmd.report))
  if not report then
    return false, "not_found", "no report " .. tostring(cmd.report)
  end
  return { report = report }
end))

parley.command("mod.report.resolve", admin(function(cmd, ctx)
  local report = type(cmd.report) == "string" and decode(parley.kv.get("report:" .. cmd.report))
  if not report then
    return false, "not_found", "no report " .. tostring(cmd.report)
  end
  if type(cmd.resolution) ~= "string" or #cmd.resolution == 0 then
    return false, "bad_request", "\"resolution\" is required (e.g. dismissed, warned, muted)"
  end
  report.status = "resolved"
  report.resolution = cmd.resolution
  report.note = cmd.note
  report.resolved_by = ctx.user
  report.resolved_at = parley.now()
  parley.kv.set("report:" .. report.report, json(report))
  parley.kv.delete("open:" .. report.report)
  audit(ctx.user, "report.resolve", { report = report.report, resolution = cmd.resolution })
  return { report = report }
end))

local function sanction(kind)
  return admin(function(cmd, ctx)
    if not isUid(cmd.user) then
      return false, "bad_request", "\"user\" must be a user id"
    end
    if math.type(cmd.minutes) ~= "integer" or cmd.minutes < 1 or cmd.minutes > 525600 then
      return false, "bad_request", "\"minutes\" must be an integer from 1 to 525600"
    end
    local now = parley.now()
    local current = decode(parley.kv.get("sanction:" .. cmd.user)) or {}
    local untilTs = now + cmd.minutes * 60000
    current[kind .. "_until"] = untilTs
    current.reason = cmd.reason
    local lasts = math.max(current.muted_until or 0, current.suspended_until or 0) - now
    parley.kv.set("sanction:" .. cmd.user, json(current), lasts)
    audit(ctx.user, kind, { user = cmd.user, ["until"] = untilTs, reason = cmd.reason })
    return { user = cmd.user, [kind .. "_until"] = untilTs }
  end)
end

parley.command("mod.mute", sanction("muted"))
parley.command("mod.suspend", sanction("suspended"))

parley.command("mod.lift", admin(function(cmd, ctx)
  if not isUid(cmd.user) then
    return false, "bad_request", "\"user\" must be a user id"
  end
  local lifted = parley.kv.delete("sanction:" .. cmd.user)
  audit(ctx.user, "lift", { user = cmd.user })
  return { user = cmd.user, lifted = lifted }
end))

-- Newest first.
parley.command("mod.audit", admin(function(cmd)
  local entries = parley.json.array()
  local limit = math.min(math.type(cmd.limit) == "integer" and math.max(cmd.limit, 1) or 100, 1000)
  for _, entry in ipairs(parley.kv.list("audit:", limit)) do
    entries[#entries + 1] = decode(entry.value)
  end
  return { entries = entries }
end))
