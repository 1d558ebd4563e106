#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "store/Model.h"

namespace parley {

// How stored things look on the wire. docs/protocol.md shows each shape.

// {conv, seq, sender, cmid, body, meta, ts}, plus erased: true for a tombstone
nlohmann::json messageJson(const store::MessageRecord& message);

// A conversation as one member sees it: {conv, kind, title, context, members, created_by,
// created_at, last_seq, last_ts, preview, read_seq, unread, muted, archived, pinned_at}.
nlohmann::json summaryJson(const store::ConversationRecord& conversation,
                           const std::string& viewer);

// One member's own settings of a conversation: {muted, archived, pinned_at}.
nlohmann::json settingsJson(const store::MemberSettings& settings);
// One change of a group's members or title: {rev, kind, user (title for "renamed"), by, seq, ts}
nlohmann::json memberChangeJson(const store::MemberChange& change);

// {user, state, last_seen}
nlohmann::json presenceJson(const store::PresenceRecord& presence);

// Opaque conv.list cursors: "<last_activity>.<conv>".
std::string encodeListCursor(const store::ListCursor& cursor);
std::optional<store::ListCursor> decodeListCursor(const std::string& text);

// Serialises a payload; never throws (invalid UTF-8 is replaced, though none should reach here).
std::string toPayload(const nlohmann::json& value);

constexpr size_t kPreviewCharacters = 120;

}  // namespace parley
