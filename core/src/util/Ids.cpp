#include "util/Ids.h"

#include <random>

namespace parley {

std::string newConversationId() {
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    // One generator per thread, seeded from the OS: ids must not repeat across processes either.
    thread_local std::mt19937_64 generator{[] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }()};
    std::string id = "c";
    id.reserve(21);
    uint64_t bits = generator();
    uint64_t more = generator();
    for (int i = 0; i < 20; ++i) {
        if (i == 12) {
            bits = more;
        }
        id.push_back(kAlphabet[bits & 31U]);
        bits >>= 5U;
    }
    return id;
}

}  // namespace parley
