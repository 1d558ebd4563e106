#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::notify {

// What one email (or push) tells a user: everything pending for them, per conversation. Built
// only from what the store holds (messages_get), so a message moderation rewrote appears as it
// was stored, never as it was sent.
struct DigestMessage {
    std::string senderName;
    std::string body;
    int64_t ts = 0;
};

struct DigestConversation {
    std::string conv;
    std::string title;  // the conversation's title, the listing's, or the other members' names
    std::optional<std::string> listingTitle;
    std::optional<std::string> listingStatus;
    int64_t count = 0;  // unread messages this digest covers
    int64_t lastSeq = 0;
    std::vector<std::string> senderNames;  // distinct, newest first
    std::vector<DigestMessage> latest;     // oldest first, at most `latest` of them
};

struct Digest {
    std::string uid;
    std::string userName;
    std::string unsubscribeUrl;
    std::vector<DigestConversation> conversations;

    int64_t total() const;
    std::vector<std::string> senderNames() const;
};

// One conversation of a digest: `summary` as conversation_get answers, `page` as messages_get
// answers (the newest messages), the messages after fromSeq counted, the newest `latest` kept.
// Tombstones (erased) are shown as "(deleted)".
DigestConversation conversationFrom(const nlohmann::json& summary, const nlohmann::json& page,
                                    const std::string& reader, int64_t fromSeq, int64_t lastSeq,
                                    size_t latest);

struct RenderedMail {
    std::string subject;
    std::string text;
    std::string html;
};

// Mustache templates (subject.txt, body.txt, body.html in one folder an admin edits).
// {{name}} is HTML-escaped in body.html and inserted as is in the text ones.
class DigestTemplates {
  public:
    // Throws std::runtime_error naming the file that is missing or does not parse.
    explicit DigestTemplates(const std::string& folder);
    DigestTemplates(std::string subject, std::string text, std::string html);

    RenderedMail render(const Digest& digest) const;
    // The variables the templates see (docs/notifications.md lists them).
    static nlohmann::json variables(const Digest& digest);

  private:
    std::string subject_;
    std::string text_;
    std::string html_;
};

// The unsubscribe token of a user: hex HMAC-SHA256 over "unsubscribe:" + uid with the secret.
std::string unsubscribeToken(const std::string& secret, const std::string& uid);
// Constant-time comparison with the expected token.
bool verifyUnsubscribeToken(const std::string& secret, const std::string& uid,
                            const std::string& token);
// Hex HMAC-SHA256 of a push gateway request's body.
std::string hmacSha256Hex(const std::string& secret, const std::string& data);

std::string percentEncode(const std::string& text);
// The value of `name` in a query string (percent-decoded), or nothing.
std::optional<std::string> queryValue(const std::string& query, const std::string& name);

// A complete RFC 5322 message, multipart/alternative text + HTML, bodies base64 (UTF-8).
std::string mimeMessage(const std::string& from, const std::string& to, const RenderedMail& mail,
                        const std::string& messageId, const std::string& unsubscribeUrl,
                        int64_t dateMs);

}  // namespace parley::notify
