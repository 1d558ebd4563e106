#include "MysqlConfigFor.h"

namespace parley::testing {

MysqlConfig mysqlConfigFor(const MariaDbServer& server, const std::string& database) {
    MysqlConfig config;
    config.host = "127.0.0.1";
    config.port = server.port();
    config.user = server.user();
    config.database = database;
    return config;
}

}  // namespace parley::testing
