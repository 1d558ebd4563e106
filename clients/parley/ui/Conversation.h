#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace parley::client::ui {

// One message as the client holds it: stored (it has its seq), or one of ours still waiting for
// the server's reply (or refused by it).
struct ChatMessage {
    enum class State { Stored, Sending, Failed };

    int64_t seq = 0;  // 0 until stored
    std::string sender;
    std::string cmid;
    std::string body;
    int64_t ts = 0;  // ms since the epoch: the server's once stored, ours while sending
    State state = State::Stored;
    std::string error;  // why it failed
};

struct Member {
    std::string user;
    std::string name;
    int64_t readSeq = 0;  // that member's read watermark: for read receipts
};

// What a 1:1 is about (e.g. a marketplace listing).
struct ConversationContext {
    std::string type;
    std::string id;
    std::string title;
    std::string status;  // set by a server extension ("sold", ...), else empty
};

// A conversation: its summary as the server last told it, and the messages loaded so far.
struct Conversation {
    std::string id;
    std::string kind;   // "direct" or "group"
    std::string title;  // groups only
    std::optional<ConversationContext> context;
    std::vector<Member> members;
    int64_t lastSeq = 0;
    int64_t lastTs = 0;   // last activity: orders the list
    int64_t readSeq = 0;  // ours
    int64_t unread = 0;
    std::optional<ChatMessage> preview;  // the last message

    // Messages are kept only once the conversation is opened (`tracked`); `historyLoaded` once
    // its newest page has arrived, from when on gaps are fetched.
    bool tracked = false;
    bool historyLoaded = false;
    std::map<int64_t, ChatMessage> messages;  // stored ones, by seq
    std::vector<ChatMessage> outgoing;        // ours not stored (yet), in sending order

    // Who is typing, until when (a start expires unless repeated).
    std::map<std::string, std::chrono::steady_clock::time_point> typing;

    bool direct() const { return kind == "direct"; }
    int64_t firstHeld() const { return messages.empty() ? 0 : messages.begin()->first; }
    int64_t lastHeld() const { return messages.empty() ? 0 : messages.rbegin()->first; }
    // Whether older messages than those held exist on the server.
    bool hasOlder() const { return messages.empty() ? lastSeq > 0 : firstHeld() > 1; }
};

}  // namespace parley::client::ui
