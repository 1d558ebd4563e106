#include "parley/wire/TopicScheme.h"

namespace parley {

std::string TopicScheme::commandSubscription(const std::string& shareGroup) const {
    return "$share/" + shareGroup + "/" + prefix_ + "/c2s/#";
}

std::string TopicScheme::commandTopic(std::string_view uid) const {
    return prefix_ + "/c2s/" + std::string(uid);
}

std::string TopicScheme::bytesCommandTopic(std::string_view uid) const {
    return prefix_ + "/c2s/" + std::string(uid) + "/bin";
}

std::string TopicScheme::replyTopic(std::string_view uid) const {
    return prefix_ + "/u/" + std::string(uid) + "/resp";
}

std::string TopicScheme::bytesReplyTopic(std::string_view uid) const {
    return prefix_ + "/u/" + std::string(uid) + "/bin";
}

std::string TopicScheme::conversationTopic(std::string_view uid, std::string_view conv) const {
    return prefix_ + "/u/" + std::string(uid) + "/c/" + std::string(conv);
}

std::string TopicScheme::userTopic(std::string_view uid) const {
    return prefix_ + "/u/" + std::string(uid) + "/n";
}

std::string TopicScheme::presenceTopic(std::string_view uid) const {
    return prefix_ + "/presence/" + std::string(uid);
}

std::string TopicScheme::inboxPrefix(std::string_view uid) const {
    return prefix_ + "/u/" + std::string(uid) + "/";
}

std::string TopicScheme::inboxSubscription(std::string_view uid) const {
    return prefix_ + "/u/" + std::string(uid) + "/#";
}

namespace {

// The last segment of `topic` after `head`: not empty, no '/'; or nothing.
std::optional<std::string> segmentAfter(std::string_view topic, std::string_view head) {
    if (topic.size() <= head.size() || !topic.starts_with(head)) {
        return std::nullopt;
    }
    std::string_view segment = topic.substr(head.size());
    if (segment.find('/') != std::string_view::npos) {
        return std::nullopt;
    }
    return std::string(segment);
}

}  // namespace

std::optional<std::string> TopicScheme::uidFromCommandTopic(std::string_view topic) const {
    return segmentAfter(topic, prefix_ + "/c2s/");
}

std::optional<std::string> TopicScheme::convFromConversationTopic(std::string_view uid,
                                                                  std::string_view topic) const {
    return segmentAfter(topic, inboxPrefix(uid) + "c/");
}

std::optional<std::string> TopicScheme::uidFromPresenceTopic(std::string_view topic) const {
    return segmentAfter(topic, prefix_ + "/presence/");
}

std::optional<std::string> TopicScheme::uidFromBytesCommandTopic(std::string_view topic) const {
    const std::string head = prefix_ + "/c2s/";
    constexpr std::string_view tail = "/bin";
    if (topic.size() <= head.size() + tail.size() || topic.substr(0, head.size()) != head ||
        !topic.ends_with(tail)) {
        return std::nullopt;
    }
    std::string_view uid = topic.substr(head.size(), topic.size() - head.size() - tail.size());
    if (uid.find('/') != std::string_view::npos) {
        return std::nullopt;
    }
    return std::string(uid);
}

}  // namespace parley
