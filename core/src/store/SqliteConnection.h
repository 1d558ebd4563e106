#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "store/SqlConnection.h"

namespace parley::store {

// One SQLite connection in WAL mode with its prepared statements cached.
class SqliteConnection final : public SqlConnection {
  public:
    // synchronous: "full" or "normal" (see config/parleyd.yaml).
    SqliteConnection(const std::string& path, const std::string& synchronous);
    ~SqliteConnection() override;
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;

    void beginRead() override;
    void beginWrite() override;
    void commit() override;
    void rollback() override;
    int64_t execute(std::string_view sql, const SqlParams& params) override;
    std::vector<SqlRow> query(std::string_view sql, const SqlParams& params) override;
    void executeScript(std::string_view script) override;

  private:
    struct StatementDeleter {
        void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
    };
    using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

    sqlite3_stmt* prepare(std::string_view sql, const SqlParams& params);
    [[noreturn]] void fail(int code, std::string_view context) const;

    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, Statement> statements_;
};

}  // namespace parley::store
