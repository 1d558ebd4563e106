#include "KeyRing.h"

#include <stdexcept>

namespace parley::jwtauth {

std::string_view algorithmName(JwtAlgorithm algorithm) {
    switch (algorithm) {
        case JwtAlgorithm::HS256:
            return "HS256";
        case JwtAlgorithm::RS256:
            return "RS256";
        case JwtAlgorithm::ES256:
            return "ES256";
    }
    return "?";
}

std::optional<JwtAlgorithm> algorithmFromName(std::string_view name) {
    if (name == "HS256") {
        return JwtAlgorithm::HS256;
    }
    if (name == "RS256") {
        return JwtAlgorithm::RS256;
    }
    if (name == "ES256") {
        return JwtAlgorithm::ES256;
    }
    return std::nullopt;
}

void KeyRing::add(VerificationKey key) {
    if (keys_.contains(key.kid)) {
        throw std::runtime_error((key.kid.empty()
                                      ? std::string("more than one key without a kid")
                                      : "more than one key with kid '" + key.kid + "'") +
                                 " (" + key.source + ")");
    }
    std::string kid = key.kid;
    keys_.emplace(std::move(kid), std::move(key));
}

const VerificationKey* KeyRing::find(std::string_view kid) const {
    auto found = keys_.find(kid);
    return found == keys_.end() ? nullptr : &found->second;
}

std::string KeyRing::describe() const {
    std::string text;
    for (const auto& [kid, key] : keys_) {
        if (!text.empty()) {
            text += ", ";
        }
        text += (kid.empty() ? std::string("(no kid)") : kid) + " (" +
                std::string(algorithmName(key.algorithm)) + ")";
    }
    return text;
}

}  // namespace parley::jwtauth
