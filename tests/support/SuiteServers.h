#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace parley::testing {

// A fixture whose servers start once for the whole suite, in the derived class's static
// startServers() (befriend this class if it is not public). gtest turns an exception or a failed
// assertion in SetUpTestSuite into *skipped* tests, and ctest counts skipped tests as passed:
// here the error is kept and every test of the suite fails with it.
template <typename Derived>
class SuiteServers : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        try {
            Derived::startServers();
        } catch (const std::exception& error) {
            setupError() = error.what();
        }
    }

    void SetUp() override {
        if (!setupError().empty()) {
            FAIL() << "suite setup failed: " << setupError();
        }
    }

  private:
    static std::string& setupError() {
        static std::string error;
        return error;
    }
};

}  // namespace parley::testing
