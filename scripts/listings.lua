-- listings.lua: conversations tied to a marketplace listing (or any post that has an owner).
-- docs/listings-and-moderation.md describes it for operators and client authors.
--
--   extensions:
--     - name: listings
--       script: scripts/listings.lua
--       options:
--         context_type: listing        # the conv.open context type this script owns
--         refuse_when_closed: true     # no new messages once a listing is sold or closed
--         closed_notice: true          # a system message in every thread when it closes
--
-- The integrator's backend registers listings with listing.upsert (admins only). A buyer then
-- opens {"op":"conv.open","peer":<owner>,"context":{"type":"listing","id":<id>}}: one thread per
-- (listing, buyer), always with the owner. Listings live in this script's key-value store.

local options = parley.config
local CONTEXT = options.context_type or "listing"
local refuseWhenClosed = options.refuse_when_closed ~= false
local closedNotice = options.closed_notice ~= false

-- A status notice's cmid is "n:<conv>:<number of the change>" (at most 35 characters), and the
-- stored cmid is "<name>:" and that, at most 64 characters.
if #parley.name > 28 then
  error("listings.lua: the extension's name must be at most 28 characters (it is part of the "
    .. "status notices' cmids), not '" .. parley.name .. "'")
end

local STATUSES = { open = true, sold = true, closed = true }
local NOTICES = {
  sold = "This listing has been sold.",
  closed = "This listing has been closed.",
  open = "This listing is open again.",
}

local function load(id)
  local text = parley.kv.get("listing:" .. id)
  return text and parley.json.decode(text) or nil
end

local function check(cond, message)
  if not cond then
    error({ code = "bad_request", message = message })
  end
end

-- Posts the notice of the listing's last status change in each of its threads. The cmid names
-- the thread and the change, so every thread gets its own notice (all are sent by "system"), and
-- posting again after a partial failure stores nothing twice.
local function postNotices(listing, threads)
  for _, conv in ipairs(threads) do
    parley.post(conv, NOTICES[listing.status], { listing = listing.id, status = listing.status },
      string.format("n:%s:%d", conv, listing.status_changes))
  end
end

local function publicView(listing)
  return {
    id = listing.id, owner = listing.owner, title = listing.title, status = listing.status,
    url = listing.url, price = listing.price, updated_at = listing.updated_at,
  }
end

-- Admins (the integrator's backend, through parleyctl) register and update listings.
parley.command("listing.upsert", function(cmd, ctx)
  if not ctx.admin then
    return false, "forbidden", "only admins may register listings"
  end
  local ok, problem = pcall(function()
    check(type(cmd.listing) == "string" and #cmd.listing >= 1 and #cmd.listing <= 128,
      "\"listing\" must be the listing's id (1-128 characters)")
    check(cmd.owner == nil or (type(cmd.owner) == "string" and #cmd.owner >= 1),
      "\"owner\" must be a user id")
    check(cmd.title == nil or (type(cmd.title) == "string" and utf8.len(cmd.title) and
      utf8.len(cmd.title) <= 128), "\"title\" must be at most 128 characters")
    check(cmd.status == nil or STATUSES[cmd.status], "\"status\" must be open, sold or closed")
    check(cmd.url == nil or (type(cmd.url) == "string" and #cmd.url <= 2048), "\"url\" must be a string")
    check(cmd.price == nil or type(cmd.price) == "string" or type(cmd.price) == "number",
      "\"price\" must be a string or a number")
  end)
  if not ok then
    if type(problem) == "table" then
      return false, problem.code, problem.message
    end
    error(problem, 0)
  end
  local previous = load(cmd.listing)
  if not previous and not cmd.owner then
    return false, "bad_request", "a new listing needs an \"owner\""
  end
  if previous and cmd.owner and cmd.owner ~= previous.owner then
    return false, "bad_request", "a listing's owner cannot change"
  end
  local previousStatus = previous and previous.status
  local listing = previous or { id = cmd.listing, owner = cmd.owner, status = "open" }
  listing.title = cmd.title or listing.title or ""
  listing.status = cmd.status or listing.status
  listing.url = cmd.url or listing.url
  listing.price = cmd.price or listing.price
  listing.updated_at = parley.now()
  listing.updated_by = ctx.user
  local changed = previousStatus ~= nil and previousStatus ~= listing.status
  if changed then
    -- Numbers the change: two changes in one millisecond still get notices of their own.
    listing.status_changes = (listing.status_changes or 0) + 1
    -- Kept until every thread has its notice: a retry of a command that failed half way (the
    -- status is stored, so it is no change any more) posts the rest.
    listing.notices_pending = closedNotice or nil
  end
  parley.kv.set("listing:" .. listing.id, parley.json.encode(listing))

  -- Every thread about it shows the new title and status.
  local threads = parley.context.update(CONTEXT, listing.id,
    { title = listing.title, status = listing.status })
  if listing.notices_pending then
    postNotices(listing, threads)
    listing.notices_pending = nil
    parley.kv.set("listing:" .. listing.id, parley.json.encode(listing))
  end
  parley.log("info", string.format("listing %s by %s: %s, %s, %d thread(s)", listing.id,
    listing.owner, listing.status, changed and "status changed" or "updated", #threads))
  return { listing = publicView(listing), threads = #threads }
end)

parley.command("listing.get", function(cmd)
  if type(cmd.listing) ~= "string" then
    return false, "bad_request", "\"listing\" must be the listing's id"
  end
  local listing = load(cmd.listing)
  if not listing then
    return false, "not_found", "unknown listing " .. cmd.listing
  end
  return { listing = publicView(listing) }
end)

-- Who may open a thread about a listing: anyone but the owner, with the owner, while it is open.
parley.hook("conversation.before_create", function(conv)
  if not conv.context or conv.context.type ~= CONTEXT then
    return
  end
  if conv.kind ~= "direct" then
    return false, "bad_request", "a listing's conversations are one to one"
  end
  local listing = load(conv.context.id)
  if not listing then
    return false, "not_found", "unknown listing " .. conv.context.id
  end
  if conv.creator == listing.owner then
    return false, "forbidden", "only non-creators can initiate contact about a listing"
  end
  local peer = conv.members[1] == conv.creator and conv.members[2] or conv.members[1]
  if peer ~= listing.owner then
    return false, "forbidden", "a conversation about a listing is with its owner"
  end
  if listing.status ~= "open" then
    return false, "forbidden", "this listing is " .. listing.status
  end
end)

-- A new thread shows the registered title and status, whatever the client sent.
parley.hook("conversation.after_create", function(conv)
  if conv.context and conv.context.type == CONTEXT then
    local listing = load(conv.context.id)
    if listing and (conv.context.title ~= listing.title or conv.context.status ~= listing.status) then
      parley.context.update(CONTEXT, listing.id, { title = listing.title, status = listing.status })
    end
  end
end)

-- A sold or closed listing's threads stay readable but take no new messages, and no edits
-- (message.before_edit) of the messages in them.
local function refuseInClosedThread(message)
  if refuseWhenClosed and message.context and message.context.type == CONTEXT
      and message.context.status and message.context.status ~= "open" then
    return false, "forbidden", "this listing is " .. message.context.status ..
      ": the conversation is closed"
  end
end

parley.hook("message.before_store", refuseInClosedThread)
parley.hook("message.before_edit", refuseInClosedThread)
