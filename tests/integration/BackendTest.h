#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "Stack.h"

namespace parley::testing {

// Base of the integration tests that run once per backend (parameter "sqlite" or "mariadb"): the
// shared stack of that backend, new users on it, and the steps most such tests take.
class BackendTest : public ::testing::TestWithParam<std::string> {
  protected:
    Stack& stack() { return Stack::forBackend(GetParam()); }
    std::unique_ptr<MqttTestClient> newClient() { return stack().connect(stack().newUser()); }

    // The reply, failing the test unless its code is "ok".
    static nlohmann::json ok(const nlohmann::json& reply) {
        EXPECT_EQ(codeOf(reply), "ok") << reply;
        return reply;
    }

    // The 1:1 conversation of `from` with `peer`.
    static std::string open(MqttTestClient& from, const std::string& peer) {
        return ok(from.request({{"op", "conv.open"}, {"peer", peer}})).value("conv", "");
    }
};

}  // namespace parley::testing
