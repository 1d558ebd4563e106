#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace parley {

// Every topic Parley uses, built from one configurable prefix (default "parley/v1"): the one
// place they are spelled, for parleyd, the C++ clients, the bench and the tests alike
// (docs/protocol.md, "Topics").
class TopicScheme {
  public:
    explicit TopicScheme(std::string prefix) : prefix_(std::move(prefix)) {}

    const std::string& prefix() const { return prefix_; }

    // What parleyd subscribes to: "$share/{group}/{prefix}/c2s/#" (the commands and the
    // commands with bytes).
    std::string commandSubscription(const std::string& shareGroup) const;
    std::string commandTopic(std::string_view uid) const;
    // "{prefix}/c2s/{uid}/bin": a command followed by raw bytes (docs/protocol.md, "Commands with
    // bytes"), e.g. a file's chunk without base64.
    std::string bytesCommandTopic(std::string_view uid) const;
    std::string replyTopic(std::string_view uid) const;
    // "{prefix}/u/{uid}/bin": a reply followed by raw bytes.
    std::string bytesReplyTopic(std::string_view uid) const;
    std::string conversationTopic(std::string_view uid, std::string_view conv) const;
    std::string userTopic(std::string_view uid) const;
    std::string presenceTopic(std::string_view uid) const;
    // "{prefix}/u/{uid}/": what every topic of the user's inbox starts with (replies, events).
    std::string inboxPrefix(std::string_view uid) const;
    // "{prefix}/u/{uid}/#": what a client subscribes to for everything sent to its user.
    std::string inboxSubscription(std::string_view uid) const;

    // The uid segment of "{prefix}/c2s/{uid}", or nothing if the topic is not a command topic.
    std::optional<std::string> uidFromCommandTopic(std::string_view topic) const;
    // The uid segment of "{prefix}/c2s/{uid}/bin", or nothing.
    std::optional<std::string> uidFromBytesCommandTopic(std::string_view topic) const;
    // The conv segment of "{prefix}/u/{uid}/c/{conv}", or nothing.
    std::optional<std::string> convFromConversationTopic(std::string_view uid,
                                                         std::string_view topic) const;
    // The uid segment of "{prefix}/presence/{uid}", or nothing.
    std::optional<std::string> uidFromPresenceTopic(std::string_view topic) const;

  private:
    std::string prefix_;
};

}  // namespace parley
