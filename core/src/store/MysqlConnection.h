#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "store/SqlConnection.h"
#include "store/StoreConfig.h"

namespace sql {
class Connection;
class PreparedStatement;
class Statement;
}  // namespace sql

namespace parley::store {

// One MySQL/MariaDB connection through MySQL Connector/C++, READ COMMITTED, utf8mb4, strict mode,
// no silent auto-reconnect (a lost connection must fail the transaction, not half-continue it).
class MysqlConnection final : public SqlConnection {
  public:
    MysqlConnection(const MysqlConfig& config, const std::string& password);
    ~MysqlConnection() override;
    MysqlConnection(const MysqlConnection&) = delete;
    MysqlConnection& operator=(const MysqlConnection&) = delete;

    void beginRead() override;
    void beginWrite() override;
    void commit() override;
    void rollback() override;
    int64_t execute(std::string_view sql, const SqlParams& params) override;
    std::vector<SqlRow> query(std::string_view sql, const SqlParams& params) override;
    void executeScript(std::string_view script) override;
    bool commitNeedsConfirmation() const override { return galeraNode_; }

  private:
    sql::PreparedStatement& prepare(std::string_view sql, const SqlParams& params);

    std::unique_ptr<sql::Connection> connection_;
    std::unordered_map<std::string, std::unique_ptr<sql::PreparedStatement>> statements_;
    std::unique_ptr<sql::Statement> control_;  // runs COMMIT
    bool galeraNode_ = false;                  // wsrep_on: a node of a Galera cluster
};

}  // namespace parley::store
