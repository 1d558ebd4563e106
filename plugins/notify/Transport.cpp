#include "Transport.h"

#include <curl/curl.h>

#include <cstring>
#include <memory>

#include "Digest.h"

namespace parley::notify {

namespace {

struct CurlDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Curl = std::unique_ptr<CURL, CurlDeleter>;
using CurlList = std::unique_ptr<curl_slist, ListDeleter>;

struct Upload {
    const std::string& data;
    size_t offset = 0;
};

size_t readUpload(char* buffer, size_t size, size_t count, void* userdata) {
    auto* upload = static_cast<Upload*>(userdata);
    const size_t room = size * count;
    const size_t left = upload->data.size() - upload->offset;
    const size_t chunk = std::min(room, left);
    std::memcpy(buffer, upload->data.data() + upload->offset, chunk);
    upload->offset += chunk;
    return chunk;
}

size_t discard(char*, size_t size, size_t count, void*) {
    return size * count;
}

int abortOnStop(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::atomic<bool>*>(userdata)->load() ? 1 : 0;
}

void commonOptions(CURL* curl, int64_t timeoutMs, const std::atomic<bool>& stop) {
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeoutMs));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(timeoutMs, 10000)));
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &abortOnStop);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&stop));
}

}  // namespace

std::string addressOf(const std::string& from) {
    const auto open = from.rfind('<');
    const auto close = from.rfind('>');
    if (open != std::string::npos && close != std::string::npos && close > open) {
        return from.substr(open + 1, close - open - 1);
    }
    return from;
}

SendResult sendMail(const SmtpSettings& smtp, const std::string& recipient,
                    const std::string& message, const std::atomic<bool>& stop) {
    Curl curl(curl_easy_init());
    if (!curl) {
        return {false, "curl_easy_init failed"};
    }
    char errorText[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errorText);
    curl_easy_setopt(curl.get(), CURLOPT_URL, smtp.url.c_str());
    commonOptions(curl.get(), smtp.timeoutMs, stop);
    if (smtp.starttls == "require") {
        curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    } else if (smtp.starttls == "try") {
        curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    }
    if (!smtp.caFile.empty()) {
        curl_easy_setopt(curl.get(), CURLOPT_CAINFO, smtp.caFile.c_str());
    }
    if (!smtp.username.empty()) {
        curl_easy_setopt(curl.get(), CURLOPT_USERNAME, smtp.username.c_str());
        curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, smtp.password.c_str());
    }
    const std::string sender = "<" + addressOf(smtp.from) + ">";
    curl_easy_setopt(curl.get(), CURLOPT_MAIL_FROM, sender.c_str());
    CurlList recipients(curl_slist_append(nullptr, ("<" + recipient + ">").c_str()));
    curl_easy_setopt(curl.get(), CURLOPT_MAIL_RCPT, recipients.get());
    Upload upload{message};
    curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, &readUpload);
    curl_easy_setopt(curl.get(), CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
    const CURLcode code = curl_easy_perform(curl.get());
    if (code != CURLE_OK) {
        return {false, std::string(curl_easy_strerror(code)) +
                           (errorText[0] != '\0' ? std::string(": ") + errorText : "")};
    }
    return {true, {}};
}

SendResult postPush(const PushSettings& push, const std::string& body, int64_t timestampMs,
                    const std::atomic<bool>& stop) {
    Curl curl(curl_easy_init());
    if (!curl) {
        return {false, "curl_easy_init failed"};
    }
    char errorText[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errorText);
    curl_easy_setopt(curl.get(), CURLOPT_URL, push.url.c_str());
    commonOptions(curl.get(), push.timeoutMs, stop);
    const std::string timestamp = std::to_string(timestampMs);
    CurlList headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_slist_append(headers.get(), ("X-Parley-Timestamp: " + timestamp).c_str());
    curl_slist_append(headers.get(), ("X-Parley-Signature: sha256=" +
                                      hmacSha256Hex(push.secret, timestamp + "." + body))
                                         .c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &discard);
    const CURLcode code = curl_easy_perform(curl.get());
    if (code != CURLE_OK) {
        return {false, std::string(curl_easy_strerror(code)) +
                           (errorText[0] != '\0' ? std::string(": ") + errorText : "")};
    }
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        return {false, "the gateway answered HTTP " + std::to_string(status)};
    }
    return {true, {}};
}

}  // namespace parley::notify
