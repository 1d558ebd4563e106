#include "Token.h"

#include <jwt.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

namespace parley {

namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;
constexpr size_t kMinHmacSecretBytes = 32;
constexpr const char* kDevSecretFile = "var/dev/jwt.secret";

struct JwtDeleter {
    void operator()(jwt_t* token) const { jwt_free(token); }
};

std::string readKey(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw std::runtime_error("cannot read key file " + path);
    }
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (content.size() > kMaxKeyFileBytes) {
        throw std::runtime_error("key file " + path + " is larger than 64 KiB");
    }
    return content;
}

bool isValidUid(std::string_view uid) {
    return !uid.empty() && uid.size() <= 64 && std::all_of(uid.begin(), uid.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '@' || c == '-';
    });
}

void check(int status, const char* what) {
    if (status != 0) {
        throw std::runtime_error(std::string("libjwt: cannot ") + what);
    }
}

const char* usage() {
    return "usage: parleyctl token <uid> [--lifetime 1h] [--not-before 0s]\n"
           "                        [--secret-file FILE | --key-file FILE --alg RS256|ES256]\n"
           "                        [--kid KID] [--issuer ISS] [--audience AUD]\n"
           "Prints a signed JWT: log in with username = uid, password = the token, and a client\n"
           "id that is the uid or starts with uid-. Without --secret-file or --key-file it\n"
           "signs with var/dev/jwt.secret (HS256), the development secret of tools/up.sh.\n";
}

}  // namespace

std::string mintToken(const TokenRequest& request, int64_t now) {
    if (!isValidUid(request.uid)) {
        throw std::runtime_error("'" + request.uid +
                                 "' is not a uid (1-64 of A-Z a-z 0-9 . _ @ -)");
    }
    std::string key = readKey(request.keyFile);
    jwt_alg_t algorithm = JWT_ALG_HS256;
    switch (request.algorithm) {
        case TokenAlgorithm::HS256:
            while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' ||
                                    key.back() == '\t')) {
                key.pop_back();
            }
            if (key.size() < kMinHmacSecretBytes) {
                throw std::runtime_error("the secret in " + request.keyFile + " has " +
                                         std::to_string(key.size()) +
                                         " bytes; at least 32 are needed");
            }
            break;
        case TokenAlgorithm::RS256:
        case TokenAlgorithm::ES256:
            if (key.find("PRIVATE KEY-----") == std::string::npos) {
                throw std::runtime_error(request.keyFile + " is not a PEM private key");
            }
            algorithm = request.algorithm == TokenAlgorithm::RS256 ? JWT_ALG_RS256 : JWT_ALG_ES256;
            break;
    }

    jwt_t* created = nullptr;
    check(jwt_new(&created), "create a token");
    std::unique_ptr<jwt_t, JwtDeleter> token(created);
    check(jwt_add_grant(token.get(), "sub", request.uid.c_str()), "add sub");
    check(jwt_add_grant_int(token.get(), "iat", static_cast<long>(now)), "add iat");
    check(jwt_add_grant_int(token.get(), "exp", static_cast<long>(now + request.lifetime.count())),
          "add exp");
    if (request.notBefore) {
        check(jwt_add_grant_int(token.get(), "nbf",
                                static_cast<long>(now + request.notBefore->count())),
              "add nbf");
    }
    if (!request.issuer.empty()) {
        check(jwt_add_grant(token.get(), "iss", request.issuer.c_str()), "add iss");
    }
    if (!request.audience.empty()) {
        check(jwt_add_grant(token.get(), "aud", request.audience.c_str()), "add aud");
    }
    if (!request.kid.empty()) {
        check(jwt_add_header(token.get(), "kid", request.kid.c_str()), "add kid");
    }
    check(jwt_set_alg(token.get(), algorithm, reinterpret_cast<const unsigned char*>(key.data()),
                      static_cast<int>(key.size())),
          "set the algorithm");
    struct StringDeleter {
        void operator()(char* text) const { std::free(text); }  // libjwt allocates with malloc
    };
    std::unique_ptr<char, StringDeleter> text(jwt_encode_str(token.get()));
    if (!text) {
        throw std::runtime_error("cannot sign with " + request.keyFile +
                                 " (is it the right kind of key for the algorithm?)");
    }
    return text.get();
}

std::string mintToken(const TokenRequest& request) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return mintToken(request, now.count());
}

std::optional<std::chrono::seconds> parseDuration(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    int64_t unit = 1;
    switch (text.back()) {
        case 's':
            text.remove_suffix(1);
            break;
        case 'm':
            unit = 60;
            text.remove_suffix(1);
            break;
        case 'h':
            unit = 3600;
            text.remove_suffix(1);
            break;
        case 'd':
            unit = 86400;
            text.remove_suffix(1);
            break;
        default:
            break;
    }
    int64_t count = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    constexpr int64_t kTenYears = 10LL * 366 * 86400;
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || count < 0 ||
        count > kTenYears / unit) {
        return std::nullopt;
    }
    return std::chrono::seconds(count * unit);
}

int runTokenCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    TokenRequest request;
    std::string secretFile;
    std::string keyFile;
    std::string algorithmName;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "-h" || arg == "--help") {
            out << usage();
            return 0;
        }
        if (arg.rfind("--", 0) != 0) {
            if (!request.uid.empty()) {
                err << "parleyctl token: one uid only, got '" << request.uid << "' and '" << arg
                    << "'\n"
                    << usage();
                return 2;
            }
            request.uid = arg;
            continue;
        }
        if (i + 1 >= args.size()) {
            err << "parleyctl token: " << arg << " needs a value\n" << usage();
            return 2;
        }
        const std::string& value = args[++i];
        if (arg == "--lifetime" || arg == "--not-before") {
            auto duration = parseDuration(value);
            if (!duration || (arg == "--lifetime" && duration->count() == 0)) {
                err << "parleyctl token: " << arg
                    << " takes a duration like 90s, 15m, 1h, 7d, not '" << value << "'\n";
                return 2;
            }
            (arg == "--lifetime" ? request.lifetime : request.notBefore.emplace()) = *duration;
        } else if (arg == "--secret-file") {
            secretFile = value;
        } else if (arg == "--key-file") {
            keyFile = value;
        } else if (arg == "--alg") {
            algorithmName = value;
        } else if (arg == "--kid") {
            request.kid = value;
        } else if (arg == "--issuer") {
            request.issuer = value;
        } else if (arg == "--audience") {
            request.audience = value;
        } else {
            err << "parleyctl token: unknown option " << arg << "\n" << usage();
            return 2;
        }
    }
    if (request.uid.empty()) {
        err << "parleyctl token: which uid?\n" << usage();
        return 2;
    }
    if (!secretFile.empty() && !keyFile.empty()) {
        err << "parleyctl token: --secret-file (HS256) or --key-file (RS256/ES256), not both\n";
        return 2;
    }
    if (!keyFile.empty()) {
        if (algorithmName == "RS256") {
            request.algorithm = TokenAlgorithm::RS256;
        } else if (algorithmName == "ES256") {
            request.algorithm = TokenAlgorithm::ES256;
        } else {
            err << "parleyctl token: --key-file needs --alg RS256 or --alg ES256\n";
            return 2;
        }
        request.keyFile = keyFile;
    } else {
        if (!algorithmName.empty() && algorithmName != "HS256") {
            err << "parleyctl token: --alg " << algorithmName << " needs --key-file\n";
            return 2;
        }
        request.algorithm = TokenAlgorithm::HS256;
        request.keyFile = secretFile.empty() ? kDevSecretFile : secretFile;
        if (secretFile.empty() && !std::filesystem::exists(kDevSecretFile)) {
            err << "parleyctl token: no --secret-file or --key-file, and no " << kDevSecretFile
                << " here (tools/up.sh creates it; run from the repository root)\n";
            return 2;
        }
    }
    try {
        out << mintToken(request) << "\n";
    } catch (const std::exception& error) {
        err << "parleyctl token: " << error.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace parley
