#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace parley {

// Which broker shard a user belongs to when users are sharded over independent brokers
// (docs/scaling.md, "Users sharded over brokers"; docs/protocol.md says it to client authors).
// Shard i is the i-th uri of parleyd's broker.shards, counted from 0. The function is part of
// the protocol: parleyd, the login service, the broker plugin and every client must agree on it,
// so it never changes for a given number of shards. Header-only and dependency-free so that the
// broker plugin, the clients and the tests include the one definition.

// 32-bit FNV-1a of the bytes of `text` (offset basis 2166136261, prime 16777619).
constexpr uint32_t fnv1a32(std::string_view text) {
    uint32_t hash = 2166136261u;
    for (const char c : text) {
        hash ^= static_cast<uint8_t>(c);
        hash *= 16777619u;
    }
    return hash;
}

// FNV-1a of the uid's bytes modulo the number of shards; 0 with one shard (or none).
constexpr size_t shardOfUser(std::string_view uid, size_t shardCount) {
    return shardCount <= 1 ? 0 : static_cast<size_t>(fnv1a32(uid) % shardCount);
}

}  // namespace parley
