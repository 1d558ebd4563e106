#include "Digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <kainjow/mustache.hpp>
#include <sstream>
#include <stdexcept>

namespace parley::notify {

namespace {

using Mustache = kainjow::mustache::mustache;
using MustacheData = kainjow::mustache::data;

std::string readFile(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw std::runtime_error("notify: cannot read template " + path);
    }
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

MustacheData toMustache(const nlohmann::json& value) {
    if (value.is_object()) {
        MustacheData object;
        for (const auto& [key, item] : value.items()) {
            object.set(key, toMustache(item));
        }
        return object;
    }
    if (value.is_array()) {
        kainjow::mustache::list items;
        for (const auto& item : value) {
            items.push_back(toMustache(item));
        }
        return MustacheData(items);
    }
    if (value.is_string()) {
        return MustacheData(value.get<std::string>());
    }
    if (value.is_boolean()) {
        return MustacheData(value.get<bool>());
    }
    if (value.is_number()) {
        return MustacheData(value.dump());
    }
    return MustacheData(false);
}

std::string renderOne(const std::string& name, const std::string& source, const MustacheData& data,
                      bool html) {
    Mustache tmpl(source);
    if (!html) {
        tmpl.set_custom_escape([](const std::string& text) { return text; });
    }
    if (!tmpl.is_valid()) {
        throw std::runtime_error("notify: template " + name + ": " + tmpl.error_message());
    }
    return tmpl.render(data);
}

std::string joinNames(const std::vector<std::string>& names) {
    std::string joined;
    for (size_t i = 0; i < names.size(); ++i) {
        joined += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    }
    return joined;
}

std::string hex(const unsigned char* bytes, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    for (size_t i = 0; i < size; ++i) {
        text += kDigits[bytes[i] >> 4];
        text += kDigits[bytes[i] & 15];
    }
    return text;
}

std::string base64(const std::string& data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(data.data()),
                                        static_cast<int>(data.size()));
    out.resize(static_cast<size_t>(written));
    return out;
}

// Base64 in lines of 76 characters, as MIME wants them.
std::string base64Lines(const std::string& data) {
    const std::string encoded = base64(data);
    std::string lines;
    for (size_t at = 0; at < encoded.size(); at += 76) {
        lines += encoded.substr(at, 76) + "\r\n";
    }
    return lines;
}

// A header value: as is if it is printable ASCII, else an RFC 2047 encoded word.
std::string headerText(const std::string& text) {
    const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    return plain ? text : "=?UTF-8?B?" + base64(text) + "?=";
}

std::string dateHeader(int64_t ms) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    return buffer;
}

std::string timeOfDay(int64_t ms) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", &utc);
    return buffer;
}

}  // namespace

int64_t Digest::total() const {
    int64_t sum = 0;
    for (const auto& conversation : conversations) {
        sum += conversation.count;
    }
    return sum;
}

std::vector<std::string> Digest::senderNames() const {
    std::vector<std::string> names;
    for (const auto& conversation : conversations) {
        for (const auto& name : conversation.senderNames) {
            if (std::find(names.begin(), names.end(), name) == names.end()) {
                names.push_back(name);
            }
        }
    }
    return names;
}

DigestConversation conversationFrom(const nlohmann::json& summary, const nlohmann::json& page,
                                    const std::string& reader, int64_t fromSeq, int64_t lastSeq,
                                    size_t latest) {
    DigestConversation conversation;
    conversation.conv = summary.value("conv", "");
    conversation.lastSeq = lastSeq;
    conversation.count = std::max<int64_t>(0, lastSeq - fromSeq);
    const auto nameOf = [&](const std::string& uid) {
        for (const auto& member : summary.value("members", nlohmann::json::array())) {
            if (member.value("user", "") == uid) {
                const std::string name = member.value("name", "");
                return name.empty() ? uid : name;
            }
        }
        return uid;
    };
    const auto& context = summary.contains("context") ? summary["context"] : nlohmann::json();
    if (context.is_object()) {
        if (context["title"].is_string()) {
            conversation.listingTitle = context["title"].get<std::string>();
        }
        if (context["status"].is_string()) {
            conversation.listingStatus = context["status"].get<std::string>();
        }
    }
    if (summary.contains("title") && summary["title"].is_string()) {
        conversation.title = summary["title"].get<std::string>();
    } else if (conversation.listingTitle) {
        conversation.title = *conversation.listingTitle;
    } else {
        std::vector<std::string> others;
        for (const auto& member : summary.value("members", nlohmann::json::array())) {
            if (member.value("user", "") != reader) {
                others.push_back(nameOf(member.value("user", "")));
            }
        }
        conversation.title = joinNames(others);
    }
    std::vector<DigestMessage> fresh;
    for (const auto& message : page.value("msgs", nlohmann::json::array())) {
        if (message.value("seq", int64_t{0}) <= fromSeq) {
            continue;
        }
        const std::string sender = message.value("sender", "");
        DigestMessage item{
            nameOf(sender),
            message.value("erased", false) ? std::string("(deleted)") : message.value("body", ""),
            message.value("ts", int64_t{0})};
        fresh.push_back(std::move(item));
    }
    for (auto it = fresh.rbegin(); it != fresh.rend(); ++it) {
        if (std::find(conversation.senderNames.begin(), conversation.senderNames.end(),
                      it->senderName) == conversation.senderNames.end()) {
            conversation.senderNames.push_back(it->senderName);
        }
    }
    const size_t keep = std::min(latest, fresh.size());
    conversation.latest.assign(fresh.end() - static_cast<std::ptrdiff_t>(keep), fresh.end());
    return conversation;
}

DigestTemplates::DigestTemplates(const std::string& folder)
    : DigestTemplates(readFile(folder + "/subject.txt"), readFile(folder + "/body.txt"),
                      readFile(folder + "/body.html")) {}

DigestTemplates::DigestTemplates(std::string subject, std::string text, std::string html)
    : subject_(std::move(subject)), text_(std::move(text)), html_(std::move(html)) {
    // Parse errors are an admin's typo: refuse them when the plugin loads, not at send time.
    render(Digest{});
}

nlohmann::json DigestTemplates::variables(const Digest& digest) {
    nlohmann::json conversations = nlohmann::json::array();
    for (const auto& conversation : digest.conversations) {
        nlohmann::json messages = nlohmann::json::array();
        for (const auto& message : conversation.latest) {
            messages.push_back({{"sender", message.senderName},
                                {"body", message.body},
                                {"time", timeOfDay(message.ts)}});
        }
        const int64_t hidden =
            conversation.count - static_cast<int64_t>(conversation.latest.size());
        conversations.push_back({{"conv", conversation.conv},
                                 {"title", conversation.title},
                                 {"count", conversation.count},
                                 {"plural", conversation.count != 1},
                                 {"senders", joinNames(conversation.senderNames)},
                                 {"is_listing", conversation.listingTitle.has_value()},
                                 {"listing_title", conversation.listingTitle.value_or("")},
                                 {"listing_status", conversation.listingStatus.value_or("")},
                                 {"has_listing_status", conversation.listingStatus.has_value()},
                                 {"messages", messages},
                                 {"more", hidden},
                                 {"has_more", hidden > 0}});
    }
    return {{"user", digest.uid},
            {"user_name", digest.userName.empty() ? digest.uid : digest.userName},
            {"total", digest.total()},
            {"plural", digest.total() != 1},
            {"conversation_count", digest.conversations.size()},
            {"senders", joinNames(digest.senderNames())},
            {"unsubscribe_url", digest.unsubscribeUrl},
            {"has_unsubscribe", !digest.unsubscribeUrl.empty()},
            {"conversations", conversations}};
}

RenderedMail DigestTemplates::render(const Digest& digest) const {
    const MustacheData data = toMustache(variables(digest));
    RenderedMail mail{renderOne("subject.txt", subject_, data, false),
                      renderOne("body.txt", text_, data, false),
                      renderOne("body.html", html_, data, true)};
    // A subject is one line.
    std::replace(mail.subject.begin(), mail.subject.end(), '\n', ' ');
    std::replace(mail.subject.begin(), mail.subject.end(), '\r', ' ');
    while (!mail.subject.empty() && mail.subject.back() == ' ') {
        mail.subject.pop_back();
    }
    return mail;
}

std::string hmacSha256Hex(const std::string& secret, const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size);
    return hex(digest, size);
}

std::string unsubscribeToken(const std::string& secret, const std::string& uid) {
    return hmacSha256Hex(secret, "unsubscribe:" + uid);
}

bool verifyUnsubscribeToken(const std::string& secret, const std::string& uid,
                            const std::string& token) {
    const std::string expected = unsubscribeToken(secret, uid);
    return token.size() == expected.size() &&
           CRYPTO_memcmp(token.data(), expected.data(), expected.size()) == 0;
}

std::string percentEncode(const std::string& text) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += kDigits[byte >> 4];
            out += kDigits[byte & 15];
        }
    }
    return out;
}

std::optional<std::string> queryValue(const std::string& query, const std::string& name) {
    size_t at = 0;
    while (at <= query.size()) {
        const size_t end = std::min(query.find('&', at), query.size());
        const std::string pair = query.substr(at, end - at);
        const size_t equals = pair.find('=');
        if (pair.substr(0, equals) == name) {
            const std::string raw = equals == std::string::npos ? "" : pair.substr(equals + 1);
            std::string value;
            for (size_t i = 0; i < raw.size(); ++i) {
                if (raw[i] == '%' && i + 2 < raw.size() + 0 && std::isxdigit(raw[i + 1]) &&
                    std::isxdigit(raw[i + 2])) {
                    value += static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16));
                    i += 2;
                } else {
                    value += raw[i] == '+' ? ' ' : raw[i];
                }
            }
            return value;
        }
        at = end + 1;
    }
    return std::nullopt;
}

std::string mimeMessage(const std::string& from, const std::string& to, const RenderedMail& mail,
                        const std::string& messageId, const std::string& unsubscribeUrl,
                        int64_t dateMs) {
    const std::string boundary = "parley-" + hmacSha256Hex(messageId, "boundary").substr(0, 24);
    std::string message = "From: " + from + "\r\nTo: " + to +
                          "\r\nSubject: " + headerText(mail.subject) +
                          "\r\nDate: " + dateHeader(dateMs) + "\r\nMessage-ID: <" + messageId +
                          ">\r\nMIME-Version: 1.0\r\n";
    if (!unsubscribeUrl.empty()) {
        // RFC 8058: mail clients offer a one-click unsubscribe that POSTs to the link.
        message += "List-Unsubscribe: <" + unsubscribeUrl +
                   ">\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
    }
    message += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    message += "--" + boundary +
               "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
               "base64\r\n\r\n" +
               base64Lines(mail.text);
    message += "--" + boundary +
               "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: "
               "base64\r\n\r\n" +
               base64Lines(mail.html);
    message += "--" + boundary + "--\r\n";
    return message;
}

}  // namespace parley::notify
