#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "Conversation.h"

namespace parley::client::ui {

// Everything the interactive client knows: conversations, their messages, unread counts, read
// watermarks, who is typing, presence. It only applies what the server said (replies and
// events, docs/protocol.md) and answers questions about it; it neither talks to the network nor
// draws, so it is tested without either. Messages are kept by (conv, seq): a repeated event
// changes nothing.
class ChatModel {
  public:
    using Clock = std::chrono::steady_clock;
    // docs/protocol.md#typing: receivers expire a start after about 6 seconds without news.
    static constexpr std::chrono::seconds kTypingExpiry{6};

    // What applying an event asks of the caller.
    struct EventEffect {
        bool changed = false;
        std::string unknownConv;  // names a conversation not known yet: fetch it (conv.get)
    };

    explicit ChatModel(std::string self);

    const std::string& self() const { return self_; }

    // A conversation summary: a conv.list entry, the reply of conv.open / conv.create / conv.get,
    // or a `conv` event. Returns its id (empty if it had none).
    std::string applySummary(const nlohmann::json& summary);
    void applyList(const nlohmann::json& reply);
    // A msg.history reply for `conv`; `newest` when it was asked without before/after (from then
    // on the conversation is loaded and gaps get fetched).
    void applyHistory(const std::string& conv, const nlohmann::json& reply, bool newest);
    // An event as Session hands it: `conv` from the topic (may be empty), presence or not.
    EventEffect applyEvent(const std::string& conv, bool presence, const nlohmann::json& body,
                           Clock::time_point now);
    // Our message, shown as sending until applySendReply().
    void addOutgoing(const std::string& conv, const std::string& cmid, const std::string& body,
                     int64_t nowMs);
    void applySendReply(const std::string& conv, const std::string& cmid,
                        const nlohmann::json& reply);
    void applyReadReply(const nlohmann::json& reply);
    void applyProfileReply(const nlohmann::json& reply);
    // Keep the messages of `conv` from now on (it was opened).
    void track(const std::string& conv);
    // Drops typing indicators past their time; true if one was dropped.
    bool expireTyping(Clock::time_point now);
    // After a reconnect: typing stops may have been lost.
    void clearTyping();

    const Conversation* find(const std::string& conv) const;
    // Newest activity first.
    std::vector<const Conversation*> ordered() const;
    // How to call it: a group's title (or its members), a 1:1's peer and what it is about.
    std::string titleOf(const Conversation& conversation) const;
    // The display name, else the uid.
    std::string nameOf(const std::string& uid) const;
    // The other member of a 1:1, else empty.
    std::string peerOf(const Conversation& conversation) const;
    // "online", "away", "offline", or empty while unknown.
    std::string presenceOf(const std::string& uid) const;
    // Everyone whose presence the list shows (the peers of 1:1s).
    std::vector<std::string> peers() const;
    // Display names of those typing in `conversation` (not us).
    std::vector<std::string> typingIn(const Conversation& conversation,
                                      Clock::time_point now) const;
    // Read receipts: for each other member, the last held message (not theirs) that their
    // watermark covers; by seq, their display names.
    std::map<int64_t, std::vector<std::string>> receipts(const Conversation& conversation) const;
    // For a loaded conversation missing messages (a hole in what is held, or newer ones the
    // summary announced): the seq after which to fetch (msg.history after=...).
    std::optional<int64_t> catchUpAfter(const std::string& conv) const;
    int64_t unreadTotal() const;

  private:
    Conversation* findMutable(const std::string& conv);
    void applyMessage(Conversation& conversation, const nlohmann::json& message);
    void noteReader(Conversation& conversation, const std::string& user, int64_t seq);
    static void deriveUnread(Conversation& conversation);

    std::string self_;
    std::map<std::string, Conversation> conversations_;
    std::map<std::string, std::string> names_;     // uid -> display name (non-empty)
    std::map<std::string, std::string> presence_;  // uid -> state
};

}  // namespace parley::client::ui
