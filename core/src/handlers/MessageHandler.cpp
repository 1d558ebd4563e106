#include "handlers/MessageHandler.h"

#include "handlers/MessageDelivery.h"
#include "protocol/Args.h"
#include "protocol/ErrorCode.h"
#include "protocol/Views.h"
#include "server/Dispatcher.h"

namespace parley {

namespace {
constexpr size_t kCmidCharacters = 64;
constexpr int kDefaultHistoryLimit = 50;
constexpr int kMaxHistoryLimit = 100;
constexpr int64_t kMaxSeq = int64_t{1} << 53;  // exact in every JSON parser

nlohmann::json duplicateReply(const store::MessageRecord& message) {
    return {{"conv", message.conv}, {"seq", message.seq}, {"ts", message.ts}, {"dup", true}};
}
}  // namespace

void requireMember(store::Access access, const std::string& conv) {
    if (access == store::Access::NoConversation) {
        throw ProtocolError(ErrorCode::NotFound, "no conversation " + conv);
    }
    if (access == store::Access::NotMember) {
        throw ProtocolError(ErrorCode::Forbidden, "you are not a member of " + conv);
    }
}

void MessageHandler::registerOps(Dispatcher& dispatcher) {
    dispatcher.add("msg.send", [this](const Command& c) { return send(c); });
    dispatcher.add("msg.history", [this](const Command& c) { return history(c); });
    dispatcher.add("msg.read", [this](const Command& c) { return read(c); });
}

nlohmann::json MessageHandler::send(const Command& command) {
    const Args args(command.args);
    const auto& limits = context_.config.limits;
    MessageDraft draft;
    draft.sender = command.uid;
    draft.conv = args.requireConversation();
    const std::string cmid = args.requireString("cmid", kCmidCharacters);
    draft.cmid = cmid;
    auto body = command.args.find("body");
    if (body == command.args.end() || !body->is_string()) {
        throw ProtocolError(ErrorCode::BadRequest, "\"body\" is required (a string)");
    }
    draft.body = body->get<std::string>();
    if (const nlohmann::json* meta = args.optionalObject("meta")) {
        draft.meta = *meta;
    }
    if (draft.body.empty() && draft.meta.is_null()) {
        throw ProtocolError(ErrorCode::BadRequest, "a message needs a non-empty body or a meta");
    }
    if (static_cast<int64_t>(draft.body.size()) > limits.maxBodyBytes) {
        throw ProtocolError(ErrorCode::TooLarge,
                            "\"body\" exceeds " + std::to_string(limits.maxBodyBytes) + " bytes");
    }
    std::optional<std::string> metaText;
    if (!draft.meta.is_null()) {
        metaText = toPayload(draft.meta);
        if (static_cast<int64_t>(metaText->size()) > limits.maxMetaBytes) {
            throw ProtocolError(
                ErrorCode::TooLarge,
                "\"meta\" exceeds " + std::to_string(limits.maxMetaBytes) + " bytes");
        }
    }

    // Extensions see only messages that would be stored: a member's, and not a resend (the store
    // answers a resend with the original below).
    if (context_.hooks.has(Hook::MessageBeforeStore)) {
        auto view = context_.store.memberView(draft.conv, command.uid);
        requireMember(view.access, draft.conv);
        draft.kind = view.kind;
        draft.context = std::move(view.context);
        draft.members = std::move(view.memberIds);
        draft.lastSeq = view.lastSeq;
        if (!context_.store.findByCmid(command.uid, cmid)) {
            context_.hooks.beforeMessageStore(draft);
            metaText.reset();
            if (!draft.meta.is_null()) {
                metaText = toPayload(draft.meta);
            }
            // Whatever an extension rewrote still keeps the limits of a message.
            if (static_cast<int64_t>(draft.body.size()) > limits.maxBodyBytes ||
                (metaText && static_cast<int64_t>(metaText->size()) > limits.maxMetaBytes)) {
                throw ProtocolError(ErrorCode::TooLarge, "the rewritten message is too large");
            }
            if (draft.body.empty() && !metaText) {
                throw ProtocolError(ErrorCode::BadRequest, "the rewritten message is empty");
            }
        }
    }

    auto stored = context_.store.appendMessage(store::NewMessage{
        draft.conv, command.uid, cmid, draft.body, metaText, context_.clock.nowMs()});
    requireMember(stored.access, draft.conv);
    // A resend republishes the event too: if the first attempt died between commit and publish,
    // this is how members get it live. Clients drop events whose seq they already have.
    deliverMessage(context_.outbox, stored);
    if (stored.duplicate) {
        return duplicateReply(stored.message);
    }
    context_.hooks.afterMessageStore(stored.message, memberIdsOf(stored));
    return {{"conv", stored.message.conv}, {"seq", stored.message.seq}, {"ts", stored.message.ts}};
}

nlohmann::json MessageHandler::history(const Command& command) {
    const Args args(command.args);
    store::HistoryQuery query;
    query.conv = args.requireConversation();
    query.before = args.optionalInt("before", 0, kMaxSeq);
    query.after = args.optionalInt("after", 0, kMaxSeq);
    // Larger pages are cut to the maximum rather than refused: has_more tells the client.
    query.limit = static_cast<int>(std::min<int64_t>(
        args.optionalInt("limit", 1, kMaxSeq).value_or(kDefaultHistoryLimit), kMaxHistoryLimit));
    requireMember(context_.store.memberView(query.conv, command.uid).access, query.conv);
    auto page = context_.store.history(query);
    nlohmann::json msgs = nlohmann::json::array();
    for (const auto& message : page.messages) {
        msgs.push_back(messageJson(message));
    }
    return {{"conv", query.conv}, {"msgs", msgs}, {"has_more", page.hasMore}};
}

nlohmann::json MessageHandler::read(const Command& command) {
    const Args args(command.args);
    const std::string conv = args.requireConversation();
    const int64_t seq = args.requireInt("seq", 0, kMaxSeq);
    auto result = context_.store.markRead(conv, command.uid, seq);
    requireMember(result.access, conv);
    const int64_t unread = std::max<int64_t>(0, result.lastSeq - result.readSeq);
    const int64_t unreadTotal = context_.store.unreadTotals({command.uid}).at(0).unread;
    if (result.moved) {
        context_.hooks.afterRead(conv, command.uid, result.readSeq);
        // Every member, the reader's other devices included, learns the new watermark, unless
        // an extension hides it from some (a block).
        nlohmann::json event = {
            {"ev", "read"}, {"conv", conv}, {"user", command.uid}, {"seq", result.readSeq}};
        if (context_.hooks.has(Hook::EventBeforeDeliver)) {
            DeliveryDraft draft{"read", conv, command.uid, event, std::move(result.memberIds)};
            context_.hooks.beforeDeliver(draft);
            result.memberIds = std::move(draft.recipients);
        }
        context_.outbox.toConversation(result.memberIds, conv, event);
        context_.outbox.toUser(
            command.uid,
            {{"ev", "unread"}, {"conv", conv}, {"unread", unread}, {"unread_total", unreadTotal}});
    }
    return {{"conv", conv},
            {"read_seq", result.readSeq},
            {"unread", unread},
            {"unread_total", unreadTotal}};
}

}  // namespace parley
