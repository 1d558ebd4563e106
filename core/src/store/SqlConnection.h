#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parley::store {

// NULL, an integer or text: all Parley's schema needs, the same for SQLite and MySQL.
using SqlValue = std::variant<std::monostate, int64_t, std::string>;
using SqlParams = std::vector<SqlValue>;

inline SqlValue sqlNull() {
    return std::monostate{};
}
inline SqlValue sqlOptional(const std::optional<std::string>& text) {
    return text ? SqlValue(*text) : SqlValue(std::monostate{});
}

class SqlRow {
  public:
    explicit SqlRow(std::vector<SqlValue> columns) : columns_(std::move(columns)) {}

    bool isNull(size_t column) const;
    int64_t integer(size_t column) const;   // NULL reads as 0; numeric text is converted
    std::string text(size_t column) const;  // NULL reads as ""
    std::optional<std::string> optionalText(size_t column) const;

  private:
    std::vector<SqlValue> columns_;
};

class SqlError : public std::runtime_error {
  public:
    enum class Kind {
        Constraint,      // a unique or foreign key was violated: the statement changed nothing
        Retryable,       // busy, lock wait, deadlock: roll back and run the transaction again
        ConnectionLost,  // the connection is unusable: open a new one and run it again
        Other,
    };
    SqlError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const { return kind_; }

  private:
    Kind kind_;
};

// One database connection. Not thread-safe: the pool hands it to one thread at a time.
class SqlConnection {
  public:
    virtual ~SqlConnection() = default;

    virtual void beginRead() = 0;
    virtual void beginWrite() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;  // never throws

    // Returns the number of rows changed.
    virtual int64_t execute(std::string_view sql, const SqlParams& params) = 0;
    virtual std::vector<SqlRow> query(std::string_view sql, const SqlParams& params) = 0;
    // Runs a script of DDL statements separated by ';' outside any prepared-statement cache.
    virtual void executeScript(std::string_view script) = 0;
    // True when a successful COMMIT does not prove that the whole transaction was committed: on
    // a Galera node, a transaction aborted by a replicated write set was seen to go unreported,
    // its later statements running in a new transaction that then committed (docs/scaling.md).
    // The store then reads back what it must not lose.
    virtual bool commitNeedsConfirmation() const { return false; }
};

}  // namespace parley::store
