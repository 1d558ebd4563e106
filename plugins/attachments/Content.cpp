// Bytes in, facts out: base64, SHA-256, HMAC, random ids and what libmagic says a file is.

#include "Content.h"

#include <fcntl.h>
#include <magic.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace parley::attachments {

namespace {
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string hex(const unsigned char* bytes, size_t length) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(length * 2, '0');
    for (size_t i = 0; i < length; ++i) {
        out[2 * i] = kDigits[bytes[i] >> 4];
        out[2 * i + 1] = kDigits[bytes[i] & 0xF];
    }
    return out;
}

// A table, not a search: every chunk of an upload is some 43,000 characters of base64.
int base64Value(char c) {
    static const std::array<int8_t, 256> kValues = [] {
        std::array<int8_t, 256> values{};
        values.fill(-1);
        for (size_t i = 0; i < kBase64.size(); ++i) {
            values[static_cast<unsigned char>(kBase64[i])] = static_cast<int8_t>(i);
        }
        return values;
    }();
    return kValues[static_cast<unsigned char>(c)];
}

struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};
}  // namespace

std::string base64Encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                           (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                           static_cast<uint8_t>(bytes[i + 2]);
        out += kBase64[(n >> 18) & 63];
        out += kBase64[(n >> 12) & 63];
        out += kBase64[(n >> 6) & 63];
        out += kBase64[n & 63];
    }
    const size_t rest = bytes.size() - i;
    if (rest > 0) {
        uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
        if (rest == 2) {
            n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
        }
        out += kBase64[(n >> 18) & 63];
        out += kBase64[(n >> 12) & 63];
        out += rest == 2 ? kBase64[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
        if (pad == 1 && text[i + 2] == '=') {
            return std::nullopt;  // "x=y=" style
        }
        uint32_t n = 0;
        for (int k = 0; k < 4 - pad; ++k) {
            const int value = base64Value(text[i + k]);
            if (value < 0) {
                return std::nullopt;
            }
            n |= static_cast<uint32_t>(value) << (18 - 6 * k);
        }
        out += static_cast<char>((n >> 16) & 0xFF);
        if (pad < 2) {
            out += static_cast<char>((n >> 8) & 0xFF);
        }
        if (pad < 1) {
            out += static_cast<char>(n & 0xFF);
        }
    }
    return out;
}

std::optional<std::string> sha256OfFile(const std::string& path) {
    const FdCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        return std::nullopt;
    }
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> digest(EVP_MD_CTX_new(),
                                                                   &EVP_MD_CTX_free);
    if (!digest || EVP_DigestInit_ex(digest.get(), EVP_sha256(), nullptr) != 1) {
        return std::nullopt;
    }
    std::array<char, 64 * 1024> piece{};
    for (;;) {
        const ssize_t got = ::read(file.fd, piece.data(), piece.size());
        if (got < 0) {
            return std::nullopt;
        }
        if (got == 0) {
            break;
        }
        EVP_DigestUpdate(digest.get(), piece.data(), static_cast<size_t>(got));
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(digest.get(), out.data(), &length);
    return hex(out.data(), length);
}

std::string sha256Hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int length = 0;
    EVP_Digest(bytes.data(), bytes.size(), out.data(), &length, EVP_sha256(), nullptr);
    return hex(out.data(), length);
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
         &length);
    return hex(out.data(), length);
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomId(size_t characters) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string id;
    while (id.size() < characters) {
        std::array<unsigned char, 64> bytes{};
        if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
            throw std::runtime_error("no random bytes");
        }
        for (unsigned char byte : bytes) {
            // 248 = 4 * 62: rejecting the rest keeps every letter equally likely.
            if (byte < 248 && id.size() < characters) {
                id += kAlphabet[byte % kAlphabet.size()];
            }
        }
    }
    return id;
}

std::string sniffMimeType(const std::string& path) {
    // libmagic's cookie is not thread-safe; one, loaded once, behind a lock.
    static std::mutex lock;
    static magic_t cookie = [] {
        magic_t made = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
        if (made != nullptr && magic_load(made, nullptr) != 0) {
            magic_close(made);
            made = nullptr;
        }
        return made;
    }();
    std::array<char, 64 * 1024> head{};
    ssize_t got = 0;
    {
        const FdCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
        if (file.fd < 0) {
            throw std::runtime_error("cannot read " + path);
        }
        got = ::pread(file.fd, head.data(), head.size(), 0);
    }
    if (got <= 0) {
        return "application/x-empty";
    }
    if (cookie == nullptr) {
        throw std::runtime_error("libmagic has no database (package libmagic-mgc)");
    }
    const std::lock_guard guard(lock);
    const char* type = magic_buffer(cookie, head.data(), static_cast<size_t>(got));
    return type != nullptr ? normalizedMimeType(type) : "application/octet-stream";
}

std::string normalizedMimeType(std::string_view type) {
    std::string out(type.substr(0, type.find(';')));
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (out == "image/jpg" || out == "image/pjpeg") {
        return "image/jpeg";
    }
    return out;
}

}  // namespace parley::attachments
