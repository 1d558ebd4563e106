#include "ChatModel.h"

#include <algorithm>

namespace parley::client::ui {

namespace {

using nlohmann::json;

// The server's JSON is trusted to follow docs/protocol.md, but a field that is missing or of
// another type (an extension's event, a newer server) must not throw out of the UI loop.
std::string text(const json& object, const char* key) {
    if (!object.is_object()) {
        return {};
    }
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

int64_t number(const json& object, const char* key) {
    if (!object.is_object()) {
        return 0;
    }
    const auto found = object.find(key);
    return found != object.end() && found->is_number_integer() ? found->get<int64_t>() : 0;
}

ChatMessage messageFrom(const json& object) {
    ChatMessage message;
    message.seq = number(object, "seq");
    message.sender = text(object, "sender");
    message.cmid = text(object, "cmid");
    message.body = text(object, "body");
    message.ts = number(object, "ts");
    return message;
}

}  // namespace

ChatModel::ChatModel(std::string self) : self_(std::move(self)) {}

Conversation* ChatModel::findMutable(const std::string& conv) {
    auto found = conversations_.find(conv);
    return found == conversations_.end() ? nullptr : &found->second;
}

const Conversation* ChatModel::find(const std::string& conv) const {
    auto found = conversations_.find(conv);
    return found == conversations_.end() ? nullptr : &found->second;
}

void ChatModel::deriveUnread(Conversation& conversation) {
    // docs/protocol.md: unread is last_seq - read_seq, so it is derived here too.
    conversation.unread = std::max<int64_t>(0, conversation.lastSeq - conversation.readSeq);
}

void ChatModel::noteReader(Conversation& conversation, const std::string& user, int64_t seq) {
    for (auto& member : conversation.members) {
        if (member.user == user) {
            member.readSeq = std::max(member.readSeq, seq);
        }
    }
    if (user == self_) {
        conversation.readSeq = std::max(conversation.readSeq, seq);
    }
}

std::string ChatModel::applySummary(const json& summary) {
    const std::string id = text(summary, "conv");
    if (id.empty()) {
        return id;
    }
    Conversation& conversation = conversations_[id];
    conversation.id = id;
    conversation.kind = text(summary, "kind");
    conversation.title = text(summary, "title");
    const auto context = summary.find("context");
    if (context != summary.end() && context->is_object()) {
        conversation.context =
            ConversationContext{text(*context, "type"), text(*context, "id"),
                                text(*context, "title"), text(*context, "status")};
    } else {
        conversation.context.reset();
    }
    // Watermarks only move forward: an event may be newer than this summary.
    std::map<std::string, int64_t> knownReads;
    for (const auto& member : conversation.members) {
        knownReads[member.user] = member.readSeq;
    }
    conversation.members.clear();
    const auto members = summary.find("members");
    if (members != summary.end() && members->is_array()) {
        for (const auto& entry : *members) {
            Member member{text(entry, "user"), text(entry, "name"), number(entry, "read_seq")};
            member.readSeq = std::max(member.readSeq, knownReads[member.user]);
            if (!member.name.empty()) {
                names_[member.user] = member.name;
            }
            conversation.members.push_back(std::move(member));
        }
    }
    conversation.lastSeq = std::max(conversation.lastSeq, number(summary, "last_seq"));
    conversation.lastTs = std::max(conversation.lastTs, number(summary, "last_ts"));
    conversation.readSeq = std::max(conversation.readSeq, number(summary, "read_seq"));
    const auto preview = summary.find("preview");
    if (preview != summary.end() && preview->is_object()) {
        ChatMessage latest = messageFrom(*preview);
        if (!conversation.preview || conversation.preview->seq <= latest.seq) {
            conversation.preview = std::move(latest);
        }
    }
    deriveUnread(conversation);
    return id;
}

void ChatModel::applyList(const json& reply) {
    const auto convs = reply.find("convs");
    if (convs == reply.end() || !convs->is_array()) {
        return;
    }
    for (const auto& summary : *convs) {
        applySummary(summary);
    }
}

void ChatModel::applyMessage(Conversation& conversation, const json& object) {
    ChatMessage message = messageFrom(object);
    if (message.seq <= 0) {
        return;
    }
    conversation.lastSeq = std::max(conversation.lastSeq, message.seq);
    conversation.lastTs = std::max(conversation.lastTs, message.ts);
    // Sending moves the sender's own watermark (no `read` event says so).
    noteReader(conversation, message.sender, message.seq);
    conversation.typing.erase(message.sender);
    if (!conversation.preview || conversation.preview->seq <= message.seq) {
        conversation.preview = message;
    }
    deriveUnread(conversation);
    if (!conversation.tracked) {
        return;
    }
    if (message.sender == self_) {
        std::erase_if(conversation.outgoing,
                      [&](const ChatMessage& mine) { return mine.cmid == message.cmid; });
    }
    conversation.messages.try_emplace(message.seq, std::move(message));
}

void ChatModel::applyHistory(const std::string& conv, const json& reply, bool newest) {
    Conversation* conversation = findMutable(conv);
    if (conversation == nullptr) {
        return;
    }
    conversation->tracked = true;
    const auto messages = reply.find("msgs");
    if (messages != reply.end() && messages->is_array()) {
        for (const auto& message : *messages) {
            applyMessage(*conversation, message);
        }
    }
    if (newest) {
        conversation->historyLoaded = true;
    }
}

ChatModel::EventEffect ChatModel::applyEvent(const std::string& topicConv, bool presence,
                                             const json& body, Clock::time_point now) {
    EventEffect effect;
    if (!body.is_object()) {
        return effect;
    }
    if (presence) {
        const std::string user = text(body, "user");
        if (!user.empty()) {
            presence_[user] = text(body, "state");
            effect.changed = true;
        }
        return effect;
    }
    const std::string ev = text(body, "ev");
    if (ev == "conv") {
        effect.changed = !applySummary(body).empty();
        return effect;
    }
    const std::string conv = topicConv.empty() ? text(body, "conv") : topicConv;
    if (ev != "msg" && ev != "read" && ev != "typing" && ev != "unread") {
        return effect;  // an extension's event, or a newer server's
    }
    Conversation* conversation = findMutable(conv);
    if (conversation == nullptr) {
        // A typing hint for a conversation we do not know is not worth a round trip.
        if (ev != "typing" && !conv.empty()) {
            effect.unknownConv = conv;
        }
        return effect;
    }
    effect.changed = true;
    if (ev == "msg") {
        applyMessage(*conversation, body);
    } else if (ev == "read") {
        noteReader(*conversation, text(body, "user"), number(body, "seq"));
        deriveUnread(*conversation);
    } else if (ev == "typing") {
        const std::string user = text(body, "user");
        if (user == self_) {
            effect.changed = false;
        } else if (text(body, "state") == "start") {
            conversation->typing[user] = now + kTypingExpiry;
        } else {
            conversation->typing.erase(user);
        }
    } else if (ev == "unread") {
        // May arrive out of order with several servers (the protocol says so); the next msg,
        // read or conv.list sets it right.
        conversation->unread = std::max<int64_t>(0, number(body, "unread"));
    }
    return effect;
}

void ChatModel::addOutgoing(const std::string& conv, const std::string& cmid,
                            const std::string& body, int64_t nowMs) {
    Conversation* conversation = findMutable(conv);
    if (conversation == nullptr) {
        return;
    }
    ChatMessage message;
    message.sender = self_;
    message.cmid = cmid;
    message.body = body;
    message.ts = nowMs;
    message.state = ChatMessage::State::Sending;
    conversation->outgoing.push_back(std::move(message));
}

void ChatModel::applySendReply(const std::string& conv, const std::string& cmid,
                               const json& reply) {
    Conversation* conversation = findMutable(conv);
    if (conversation == nullptr) {
        return;
    }
    auto mine = std::find_if(conversation->outgoing.begin(), conversation->outgoing.end(),
                             [&](const ChatMessage& message) { return message.cmid == cmid; });
    if (mine == conversation->outgoing.end()) {
        return;  // its msg event came first
    }
    if (!reply.value("ok", false)) {
        mine->state = ChatMessage::State::Failed;
        const json error = reply.value("error", json::object());
        mine->error = text(error, "code");
        if (!text(error, "message").empty()) {
            mine->error += ": " + text(error, "message");
        }
        return;
    }
    // The reply says where it is stored; the msg event will say the same.
    json stored = {{"seq", number(reply, "seq")},
                   {"sender", self_},
                   {"cmid", cmid},
                   {"body", mine->body},
                   {"ts", number(reply, "ts")}};
    conversation->outgoing.erase(mine);
    applyMessage(*conversation, stored);
}

void ChatModel::applyReadReply(const json& reply) {
    if (!reply.value("ok", false)) {
        return;
    }
    Conversation* conversation = findMutable(text(reply, "conv"));
    if (conversation == nullptr) {
        return;
    }
    noteReader(*conversation, self_, number(reply, "read_seq"));
    deriveUnread(*conversation);
}

void ChatModel::applyProfileReply(const json& reply) {
    if (reply.value("ok", false) && !text(reply, "user").empty()) {
        if (text(reply, "name").empty()) {
            names_.erase(text(reply, "user"));
        } else {
            names_[text(reply, "user")] = text(reply, "name");
        }
    }
}

void ChatModel::track(const std::string& conv) {
    if (Conversation* conversation = findMutable(conv)) {
        conversation->tracked = true;
    }
}

bool ChatModel::expireTyping(Clock::time_point now) {
    bool expired = false;
    for (auto& [id, conversation] : conversations_) {
        expired |= std::erase_if(conversation.typing,
                                 [&](const auto& entry) { return entry.second <= now; }) > 0;
    }
    return expired;
}

void ChatModel::clearTyping() {
    for (auto& [id, conversation] : conversations_) {
        conversation.typing.clear();
    }
}

std::vector<const Conversation*> ChatModel::ordered() const {
    std::vector<const Conversation*> list;
    list.reserve(conversations_.size());
    for (const auto& [id, conversation] : conversations_) {
        list.push_back(&conversation);
    }
    std::stable_sort(list.begin(), list.end(), [](const Conversation* a, const Conversation* b) {
        return a->lastTs > b->lastTs;
    });
    return list;
}

std::string ChatModel::nameOf(const std::string& uid) const {
    auto found = names_.find(uid);
    return found == names_.end() ? uid : found->second;
}

std::string ChatModel::peerOf(const Conversation& conversation) const {
    if (!conversation.direct()) {
        return {};
    }
    for (const auto& member : conversation.members) {
        if (member.user != self_) {
            return member.user;
        }
    }
    return {};
}

std::string ChatModel::titleOf(const Conversation& conversation) const {
    std::string title;
    if (!conversation.direct()) {
        if (!conversation.title.empty()) {
            return conversation.title;
        }
        for (const auto& member : conversation.members) {
            if (member.user != self_) {
                title += (title.empty() ? "" : ", ") + nameOf(member.user);
            }
        }
        return title.empty() ? conversation.id : title;
    }
    const std::string peer = peerOf(conversation);
    title = peer.empty() ? conversation.id : nameOf(peer);
    if (conversation.context) {
        const auto& context = *conversation.context;
        title += " · " + (context.title.empty() ? context.type + " " + context.id : context.title);
    }
    return title;
}

std::string ChatModel::presenceOf(const std::string& uid) const {
    auto found = presence_.find(uid);
    return found == presence_.end() ? std::string() : found->second;
}

std::vector<std::string> ChatModel::peers() const {
    std::vector<std::string> users;
    for (const auto& [id, conversation] : conversations_) {
        const std::string peer = peerOf(conversation);
        if (!peer.empty() && std::find(users.begin(), users.end(), peer) == users.end()) {
            users.push_back(peer);
        }
    }
    return users;
}

std::vector<std::string> ChatModel::typingIn(const Conversation& conversation,
                                             Clock::time_point now) const {
    std::vector<std::string> users;
    for (const auto& [user, until] : conversation.typing) {
        if (until > now) {
            users.push_back(nameOf(user));
        }
    }
    return users;
}

std::map<int64_t, std::vector<std::string>> ChatModel::receipts(
    const Conversation& conversation) const {
    std::map<int64_t, std::vector<std::string>> bySeq;
    for (const auto& member : conversation.members) {
        if (member.user == self_ || member.readSeq <= 0) {
            continue;
        }
        // Their own messages say nothing about what they read: the receipt goes under the last
        // message of someone else that their watermark covers.
        auto it = conversation.messages.upper_bound(member.readSeq);
        while (it != conversation.messages.begin()) {
            --it;
            if (it->second.sender != member.user) {
                bySeq[it->first].push_back(nameOf(member.user));
                break;
            }
        }
    }
    return bySeq;
}

std::optional<int64_t> ChatModel::catchUpAfter(const std::string& conv) const {
    const Conversation* conversation = find(conv);
    if (conversation == nullptr || !conversation->historyLoaded) {
        return std::nullopt;
    }
    const auto& messages = conversation->messages;
    if (messages.empty()) {
        return conversation->lastSeq > 0 ? std::optional<int64_t>(0) : std::nullopt;
    }
    int64_t previous = messages.begin()->first;
    for (const auto& [seq, message] : messages) {
        if (seq > previous + 1) {
            return previous;  // a hole: events lost or out of order
        }
        previous = seq;
    }
    if (conversation->lastSeq > previous) {
        return previous;
    }
    return std::nullopt;
}

int64_t ChatModel::unreadTotal() const {
    int64_t total = 0;
    for (const auto& [id, conversation] : conversations_) {
        total += conversation.unread;
    }
    return total;
}

}  // namespace parley::client::ui
