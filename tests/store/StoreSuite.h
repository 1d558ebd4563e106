#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "store/Store.h"

namespace parley::testing {

// One storage test suite, run against every backend (SQLite in the unit tests, MariaDB in the
// integration tests). A backend creates a fresh empty database and returns how to open a Store on
// it; opening twice gives two independent stores on one database, like two parleyd instances.
struct StoreBackend {
    std::string name;
    std::function<std::function<std::unique_ptr<store::Store>()>()> freshDatabase;
};

class StoreSuite : public ::testing::TestWithParam<StoreBackend> {
  protected:
    void SetUp() override;

    std::function<std::unique_ptr<store::Store>()> open_;
    std::unique_ptr<store::Store> store_;
};

inline void PrintTo(const StoreBackend& backend, std::ostream* out) { *out << backend.name; }

inline std::string backendName(const ::testing::TestParamInfo<StoreBackend>& info) {
    return info.param.name;
}

}  // namespace parley::testing
