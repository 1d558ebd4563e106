#include "store/MysqlConnection.h"

#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <mutex>

namespace parley::store {

namespace {

constexpr size_t kMaxCachedStatements = 256;

// Classifies a Connector/C++ error by the server or client error number.
SqlError translate(const sql::SQLException& error, sql::Connection* connection,
                   std::string_view context) {
    const int code = error.getErrorCode();
    SqlError::Kind kind = SqlError::Kind::Other;
    switch (code) {
        case 1062:  // ER_DUP_ENTRY
        case 1451:  // ER_ROW_IS_REFERENCED_2
        case 1452:  // ER_NO_REFERENCED_ROW_2
            kind = SqlError::Kind::Constraint;
            break;
        case 1205:  // ER_LOCK_WAIT_TIMEOUT
        case 1213:  // ER_LOCK_DEADLOCK
            kind = SqlError::Kind::Retryable;
            break;
        // A Galera node that left the primary component or is still joining: "WSREP has not
        // yet prepared node for application use". Another node (store.mysql.hosts) can serve.
        case 1047:  // ER_UNKNOWN_COM_ERROR
        case 1053:  // ER_SERVER_SHUTDOWN
        case 1927:  // ER_CONNECTION_KILLED
        case 2002:  // CR_CONNECTION_ERROR
        case 2003:  // CR_CONN_HOST_ERROR
        case 2006:  // CR_SERVER_GONE_ERROR
        case 2013:  // CR_SERVER_LOST
        case 2055:  // CR_SERVER_LOST_EXTENDED
            kind = SqlError::Kind::ConnectionLost;
            break;
        default:
            // Anything else on a connection that no longer answers is a lost connection too.
            try {
                if (connection != nullptr && !connection->isValid()) {
                    kind = SqlError::Kind::ConnectionLost;
                }
            } catch (const sql::SQLException&) {
                kind = SqlError::Kind::ConnectionLost;
            }
    }
    return SqlError(kind, "mysql: " + std::string(error.what()) + " (error " +
                              std::to_string(code) + ", " + std::string(context.substr(0, 120)) +
                              ")");
}

std::string endpointOf(const MysqlConfig& config) {
    return config.host + ":" + std::to_string(config.port);
}

// A TLS failure of Connector/C (error 2026, CR_SSL_CONNECTION_ERROR) with what it means here:
// MariaDB's own words are terse ("Validation of SSL server certificate failed" is a host name
// that the certificate does not have).
std::string describeTlsFailure(const std::string& what, const MysqlConfig& config) {
    const auto& tls = config.tls;
    const std::string caFiles = tls.files.caFile.empty()
                                    ? std::string("the system's trusted CAs (no ca_file given)")
                                    : "the CA file " + tls.files.caFile;
    std::string meaning;
    if (what.find("Validation of SSL server certificate failed") != std::string::npos) {
        meaning = "the server's certificate does not name " + config.host +
                  " (mode verify_identity checks store.mysql.host against the certificate's "
                  "names: connect by one of them, or use mode verify_ca)";
    } else if (what.find("has expired") != std::string::npos) {
        meaning = "the server's certificate has expired";
    } else if (what.find("not yet valid") != std::string::npos) {
        meaning = "the server's certificate is not valid yet (is this machine's clock right?)";
    } else if (what.find("self-signed certificate") != std::string::npos ||
               what.find("issuer certificate") != std::string::npos ||
               what.find("unable to verify the first certificate") != std::string::npos) {
        meaning = "the server's certificate is not signed by a CA in " + caFiles;
    } else if (what.find("does not support it") != std::string::npos) {
        meaning = "the server does not offer TLS (its ssl_cert and ssl_key are not set?)";
    }
    return "mysql: TLS with " + endpointOf(config) +
           " failed: " + (meaning.empty() ? "" : meaning + ": ") + what;
}

sql::mysql::MySQL_Driver& driver() {
    // get_mysql_driver_instance is not safe to call concurrently the first time.
    static std::once_flag once;
    static sql::mysql::MySQL_Driver* instance = nullptr;
    std::call_once(once, [] { instance = sql::mysql::get_mysql_driver_instance(); });
    return *instance;
}

}  // namespace

MysqlConnection::MysqlConnection(const MysqlConfig& config, const std::string& password) {
    sql::ConnectOptionsMap options;
    if (!config.socket.empty()) {
        options["hostName"] = sql::SQLString("unix://" + config.socket);
    } else {
        options["hostName"] =
            sql::SQLString("tcp://" + config.host + ":" + std::to_string(config.port));
    }
    options["userName"] = sql::SQLString(config.user);
    options["password"] = sql::SQLString(password);
    options["schema"] = sql::SQLString(config.database);
    options["OPT_CONNECT_TIMEOUT"] = config.connectTimeoutSeconds;
    options["OPT_READ_TIMEOUT"] = config.ioTimeoutSeconds;
    options["OPT_WRITE_TIMEOUT"] = config.ioTimeoutSeconds;
    options["OPT_RECONNECT"] = false;
    options["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    // TLS (store.mysql.tls). What Debian 12's Connector/C++ 1.1.12, built on MariaDB Connector/C
    // 3.3, does with its options, as tested against MariaDB 10.11 (tests/integration/
    // MariaDbTlsTest.cpp): sslCA turns TLS on and verifies the chain, but a server without TLS is
    // still used in the clear; sslVerify requires TLS and verifies the chain and the host name;
    // OPT_SSL_MODE and sslEnforce are accepted and change nothing of that. Hence the check of
    // Ssl_cipher below.
    const auto& tls = config.tls;
    if (tls.enabled()) {
        if (!tls.files.caFile.empty()) {
            options["sslCA"] = sql::SQLString(tls.files.caFile);
        }
        if (!tls.files.certFile.empty()) {
            options["sslCert"] = sql::SQLString(tls.files.certFile);
            options["sslKey"] = sql::SQLString(tls.files.keyFile);
        }
        if (tls.mode == MysqlTlsConfig::Mode::VerifyIdentity) {
            options["sslVerify"] = true;
        }
    }
    try {
        connection_.reset(driver().connect(options));
        std::unique_ptr<sql::Statement> statement(connection_->createStatement());
        if (tls.enabled()) {
            std::unique_ptr<sql::ResultSet> cipher(
                statement->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
            if (!cipher->next() || cipher->getString(2).asStdString().empty()) {
                throw SqlError(SqlError::Kind::ConnectionLost,
                               "mysql: the server at " + endpointOf(config) +
                                   " did not encrypt the connection, and store.mysql.tls is set: "
                                   "refused (does the server have ssl_cert and ssl_key?)");
            }
        }
        // A Galera node answers before it has joined the cluster (while it receives the state)
        // and after it lost the primary component, refusing queries; a node that is not ready is
        // treated as unreachable, so parleyd moves on to another (store.mysql.hosts).
        std::unique_ptr<sql::ResultSet> wsrep(
            statement->executeQuery("SHOW VARIABLES LIKE 'wsrep_on'"));
        galeraNode_ = wsrep->next() && wsrep->getString(2).asStdString() == "ON";
        if (galeraNode_) {
            std::unique_ptr<sql::ResultSet> ready(
                statement->executeQuery("SHOW STATUS LIKE 'wsrep_ready'"));
            if (!ready->next() || ready->getString(2).asStdString() != "ON") {
                throw SqlError(SqlError::Kind::ConnectionLost,
                               "mysql: the Galera node at " + endpointOf(config) +
                                   " is not ready (wsrep_ready is not ON: joining, or not in "
                                   "the primary component)");
            }
        }
        statement->execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
        statement->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
        statement->execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin");
        connection_->setAutoCommit(false);
    } catch (const sql::SQLException& error) {
        if (error.getErrorCode() == 2026) {  // CR_SSL_CONNECTION_ERROR
            // Retried like an unreachable server: the server's certificate may be fixed there.
            throw SqlError(SqlError::Kind::ConnectionLost,
                           describeTlsFailure(error.what(), config) + " (error 2026, connect)");
        }
        auto translated = translate(error, nullptr, "connect");
        // Failing to connect at all is always worth retrying: the server may be starting.
        if (translated.kind() == SqlError::Kind::Other && error.getErrorCode() >= 2000) {
            throw SqlError(SqlError::Kind::ConnectionLost, translated.what());
        }
        throw translated;
    }
}

MysqlConnection::~MysqlConnection() {
    statements_.clear();
    control_.reset();
    if (connection_) {
        try {
            connection_->close();
        } catch (const sql::SQLException&) {
            // The server is gone; nothing to close.
        }
    }
}

void MysqlConnection::beginRead() {}

void MysqlConnection::beginWrite() {}

void MysqlConnection::commit() {
    // COMMIT as a statement, not Connection::commit(): a COMMIT that fails must throw, and only a
    // statement's result is checked for certain. A COMMIT answered OK that did not commit would
    // be a message acknowledged and lost (it happened with a server shutting down).
    try {
        if (!control_) {
            control_.reset(connection_->createStatement());
        }
        control_->execute("COMMIT");
    } catch (const sql::SQLException& error) {
        throw translate(error, connection_.get(), "COMMIT");
    }
}

void MysqlConnection::rollback() {
    try {
        connection_->rollback();
    } catch (const sql::SQLException&) {
        // The connection is broken; the server rolls back on its side.
    }
}

sql::PreparedStatement& MysqlConnection::prepare(std::string_view sql, const SqlParams& params) {
    auto found = statements_.find(std::string(sql));
    if (found == statements_.end()) {
        if (statements_.size() >= kMaxCachedStatements) {
            statements_.clear();
        }
        std::unique_ptr<sql::PreparedStatement> statement(
            connection_->prepareStatement(sql::SQLString(std::string(sql))));
        found = statements_.emplace(std::string(sql), std::move(statement)).first;
    }
    sql::PreparedStatement& statement = *found->second;
    for (size_t i = 0; i < params.size(); ++i) {
        const auto index = static_cast<unsigned int>(i + 1);
        if (const auto* number = std::get_if<int64_t>(&params[i])) {
            statement.setInt64(index, *number);
        } else if (const auto* text = std::get_if<std::string>(&params[i])) {
            statement.setString(index, sql::SQLString(*text));
        } else {
            statement.setNull(index, sql::DataType::VARCHAR);
        }
    }
    return statement;
}

int64_t MysqlConnection::execute(std::string_view sql, const SqlParams& params) {
    try {
        return prepare(sql, params).executeUpdate();
    } catch (const sql::SQLException& error) {
        throw translate(error, connection_.get(), sql);
    }
}

std::vector<SqlRow> MysqlConnection::query(std::string_view sql, const SqlParams& params) {
    try {
        std::unique_ptr<sql::ResultSet> result(prepare(sql, params).executeQuery());
        sql::ResultSetMetaData* meta = result->getMetaData();
        const unsigned int columns = meta->getColumnCount();
        std::vector<bool> integral(columns + 1, false);
        for (unsigned int column = 1; column <= columns; ++column) {
            switch (meta->getColumnType(column)) {
                case sql::DataType::BIT:
                case sql::DataType::TINYINT:
                case sql::DataType::SMALLINT:
                case sql::DataType::MEDIUMINT:
                case sql::DataType::INTEGER:
                case sql::DataType::BIGINT:
                    integral[column] = true;
                    break;
                default:
                    break;
            }
        }
        std::vector<SqlRow> rows;
        while (result->next()) {
            std::vector<SqlValue> values;
            values.reserve(columns);
            for (unsigned int column = 1; column <= columns; ++column) {
                if (result->isNull(column)) {
                    values.emplace_back(std::monostate{});
                } else if (integral[column]) {
                    values.emplace_back(static_cast<int64_t>(result->getInt64(column)));
                } else {
                    values.emplace_back(result->getString(column).asStdString());
                }
            }
            rows.emplace_back(std::move(values));
        }
        return rows;
    } catch (const sql::SQLException& error) {
        throw translate(error, connection_.get(), sql);
    }
}

void MysqlConnection::executeScript(std::string_view script) {
    try {
        std::unique_ptr<sql::Statement> statement(connection_->createStatement());
        size_t start = 0;
        while (start < script.size()) {
            size_t end = script.find(';', start);
            if (end == std::string_view::npos) {
                end = script.size();
            }
            std::string_view piece = script.substr(start, end - start);
            start = end + 1;
            if (piece.find_first_not_of(" \t\r\n") == std::string_view::npos) {
                continue;
            }
            statement->execute(sql::SQLString(std::string(piece)));
        }
    } catch (const sql::SQLException& error) {
        throw translate(error, connection_.get(), script);
    }
}

}  // namespace parley::store
