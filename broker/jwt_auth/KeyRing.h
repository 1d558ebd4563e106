#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "VerificationKey.h"

namespace parley::jwtauth {

// The keys tokens may be signed with, by key id. Several keys at once is what lets an issuer
// rotate: tokens signed with the old kid keep working until they expire.
class KeyRing {
  public:
    // Throws std::runtime_error if a key with the same kid is already there.
    void add(VerificationKey key);
    // nullptr if there is no key with this kid ("" = the key for tokens without a kid).
    const VerificationKey* find(std::string_view kid) const;
    bool empty() const { return keys_.empty(); }
    size_t size() const { return keys_.size(); }
    // "k1 (RS256), k2 (ES256)", for the startup log line.
    std::string describe() const;

  private:
    std::map<std::string, VerificationKey, std::less<>> keys_;
};

}  // namespace parley::jwtauth
