// plugins/notify's digest building, templates, tokens and MIME, without parleyd.

#include <gtest/gtest.h>

#include "Digest.h"

namespace parley::notify {
namespace {

using nlohmann::json;

json summary() {
    return {
        {"conv", "c1"},
        {"kind", "direct"},
        {"title", nullptr},
        {"context",
         {{"type", "listing"}, {"id", "42"}, {"title", "Blue bike"}, {"status", "sold"}}},
        {"members", {{{"user", "alice"}, {"name", "Alice"}}, {{"user", "bob"}, {"name", "Bob"}}}}};
}

json page() {
    json msgs = json::array();
    for (int seq = 1; seq <= 5; ++seq) {
        msgs.push_back({{"seq", seq},
                        {"sender", seq == 2 ? "bob" : "alice"},
                        {"body", "message " + std::to_string(seq)},
                        {"ts", 1700000000000 + seq}});
    }
    msgs[3]["erased"] = true;
    return {{"msgs", msgs}, {"has_more", false}};
}

TEST(NotifyDigest, CountsOnlyWhatIsUnreadAndKeepsTheLatest) {
    const auto conversation = conversationFrom(summary(), page(), "bob", 1, 5, 2);
    EXPECT_EQ(conversation.count, 4);
    EXPECT_EQ(conversation.title, "Blue bike");
    EXPECT_EQ(conversation.listingTitle.value_or(""), "Blue bike");
    EXPECT_EQ(conversation.listingStatus.value_or(""), "sold");
    ASSERT_EQ(conversation.latest.size(), 2u);
    EXPECT_EQ(conversation.latest[0].body, "(deleted)");  // seq 4, a tombstone
    EXPECT_EQ(conversation.latest[1].body, "message 5");
    EXPECT_EQ(conversation.latest[1].senderName, "Alice");
    // Newest first, each once; message 1 (read) does not count.
    EXPECT_EQ(conversation.senderNames, (std::vector<std::string>{"Alice", "Bob"}));
}

TEST(NotifyDigest, UntitledDirectConversationIsNamedAfterTheOthers) {
    json plain = summary();
    plain["context"] = nullptr;
    const auto conversation = conversationFrom(plain, page(), "bob", 0, 5, 3);
    EXPECT_EQ(conversation.title, "Alice");
    EXPECT_FALSE(conversation.listingTitle.has_value());
}

TEST(NotifyDigest, HtmlIsEscapedAndTextIsNot) {
    const DigestTemplates templates("{{total}} from {{senders}}",
                                    "{{#conversations}}{{#messages}}{{body}}{{/messages}}"
                                    "{{/conversations}}",
                                    "{{#conversations}}<p>{{title}}</p>{{#messages}}<li>{{body}}"
                                    "</li>{{/messages}}{{/conversations}}");
    json evil = page();
    evil["msgs"][4]["body"] = "<script>alert('x')</script> & \"q\"";
    json titled = summary();
    titled["context"]["title"] = "<b>bike</b>";
    Digest digest{"bob", "Bob", "", {conversationFrom(titled, evil, "bob", 4, 5, 3)}};
    const auto mail = templates.render(digest);
    EXPECT_EQ(mail.subject, "1 from Alice");
    EXPECT_EQ(mail.text, "<script>alert('x')</script> & \"q\"");
    EXPECT_EQ(mail.html,
              "<p>&lt;b&gt;bike&lt;/b&gt;</p><li>&lt;script&gt;alert(&apos;x&apos;)&lt;/"
              "script&gt; &amp; &quot;q&quot;</li>");
    EXPECT_EQ(mail.html.find("<script>"), std::string::npos);
}

TEST(NotifyDigest, SubjectIsOneLine) {
    const DigestTemplates templates("a\n{{user_name}}\n", "", "");
    Digest digest{"bob", "Bob\r\nBcc: x@y", "", {}};
    const auto mail = templates.render(digest);
    EXPECT_EQ(mail.subject.find('\n'), std::string::npos);
    EXPECT_EQ(mail.subject.find('\r'), std::string::npos);
}

TEST(NotifyDigest, BrokenTemplateIsRefusedAtLoad) {
    EXPECT_THROW(DigestTemplates("{{#open}}", "", ""), std::runtime_error);
    EXPECT_THROW(DigestTemplates("/nonexistent/folder"), std::runtime_error);
}

TEST(NotifyDigest, UnsubscribeTokenVerifiesAndTamperingFails) {
    const std::string secret = "0123456789abcdef-secret";
    const std::string token = unsubscribeToken(secret, "bob");
    EXPECT_EQ(token.size(), 64u);
    EXPECT_TRUE(verifyUnsubscribeToken(secret, "bob", token));
    EXPECT_FALSE(verifyUnsubscribeToken(secret, "bob2", token));
    EXPECT_FALSE(verifyUnsubscribeToken("another-secret-0123", "bob", token));
    std::string tampered = token;
    tampered[10] = tampered[10] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(verifyUnsubscribeToken(secret, "bob", tampered));
    EXPECT_FALSE(verifyUnsubscribeToken(secret, "bob", token.substr(0, 63)));
    // RFC 4231, test case 2.
    EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifyDigest, QueryValuesAreDecoded) {
    EXPECT_EQ(queryValue("u=b%2Fob&t=abc", "u").value_or(""), "b/ob");
    EXPECT_EQ(queryValue("u=b%2Fob&t=abc", "t").value_or(""), "abc");
    EXPECT_FALSE(queryValue("u=1", "t").has_value());
    EXPECT_EQ(percentEncode("a b/c"), "a%20b%2Fc");
}

TEST(NotifyDigest, MimeMessageCarriesBothPartsAndTheUnsubscribeHeaders) {
    const RenderedMail mail{"Grüße", "text body", "<p>html</p>"};
    const std::string message =
        mimeMessage("Parley <noreply@example.com>", "bob@example.com", mail, "d1@parley",
                    "https://x/unsub?u=bob&t=1", 1700000000000);
    EXPECT_NE(message.find("Subject: =?UTF-8?B?"), std::string::npos);
    EXPECT_NE(message.find("List-Unsubscribe: <https://x/unsub?u=bob&t=1>"), std::string::npos);
    EXPECT_NE(message.find("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), std::string::npos);
    EXPECT_NE(message.find("Content-Type: text/plain; charset=utf-8"), std::string::npos);
    EXPECT_NE(message.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
    EXPECT_NE(message.find("dGV4dCBib2R5"), std::string::npos);  // "text body" in base64
    EXPECT_NE(message.find("Message-ID: <d1@parley>"), std::string::npos);
}

}  // namespace
}  // namespace parley::notify
