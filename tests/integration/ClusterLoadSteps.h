#pragma once

// Steps the fault tests take with a chat load on a cluster of parleyd (FaultTest, GaleraTest).

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>

#include "ChatLoad.h"
#include "ParleydCluster.h"

namespace parley::testing {

inline constexpr std::chrono::seconds kProgressTimeout{60};
inline constexpr std::chrono::seconds kDrainTimeout{60};

// The end of a log, for a failure's message.
inline std::string tail(const std::string& text, size_t bytes = 6000) {
    return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

// The load the fault tests run on `cluster`: 20 pairs and 5 groups of 6, at `messagesPerSecond`.
inline ChatLoadOptions loadOn(ParleydCluster& cluster, double messagesPerSecond) {
    ChatLoadOptions options;
    options.uri = cluster.broker().uri();
    options.users = cluster.loadUsers();
    options.directConversations = 20;
    options.groups = 5;
    options.groupSize = 6;
    options.messagesPerSecond = messagesPerSecond;
    return options;
}

// Connects the clients, opens the conversations and starts sending.
inline void startLoad(ChatLoad& load, ParleydCluster& cluster) {
    try {
        load.connect();
    } catch (const std::exception& error) {
        FAIL() << error.what() << "\n" << tail(cluster.logs());
    }
    load.start();
}

// Waits for `more` acknowledgements beyond what there is now: the load is making progress.
inline void expectProgress(ChatLoad& load, ParleydCluster& cluster, size_t more, const char* when) {
    const size_t target = load.acknowledged() + more;
    ASSERT_TRUE(load.waitForAcknowledged(target, kProgressTimeout))
        << "no progress " << when << ": " << load.acknowledged() << " acknowledged, waited for "
        << target << "\n"
        << tail(cluster.logs());
}

// Stops the load, lets it drain, and runs every check through MQTT and in `database`.
inline void expectPromisesKept(ChatLoad& load, ParleydCluster& cluster, const char* name,
                               store::SqlConnection& database) {
    const bool drained = load.stop(kDrainTimeout);
    const auto verdict = load.verify(&database);
    std::cout << "[" << name << "] " << verdict.summary() << std::endl;
    EXPECT_TRUE(drained) << "messages still unanswered after the drain\n" << tail(cluster.logs());
    EXPECT_TRUE(verdict.ok()) << verdict.summary() << "\n" << tail(cluster.logs());
    EXPECT_GT(verdict.acknowledged, 0u);
    EXPECT_TRUE(verdict.databaseChecked);
}

}  // namespace parley::testing
