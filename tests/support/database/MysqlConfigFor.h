#pragma once

#include <string>

#include "MariaDbServer.h"
#include "store/StoreConfig.h"

namespace parley::testing {

// What a MysqlStore or MysqlConnection needs to reach `database` on `server` as server.user();
// the password is server.password(). Here, not in MariaDbServer: parleyd's MysqlConfig is
// core/src's, which the servers of parley_test_support do not see.
MysqlConfig mysqlConfigFor(const MariaDbServer& server, const std::string& database);

}  // namespace parley::testing
