// parleyd to MariaDB over TLS (store.mysql.tls): a real MariaDB started with TLS, certificates
// made by TestPki, the connections parleyd's store makes (MysqlConnection) and parleyd itself.
// An account created REQUIRE SSL proves on the server's side that parleyd's sessions are
// encrypted; Ssl_cipher proves it on the client's.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "ChildProcess.h"
#include "MariaDbServer.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "MysqlConfigFor.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "SuiteServers.h"
#include "TempDir.h"
#include "TestPki.h"
#include "store/MysqlConnection.h"

namespace parley::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTlsOnlyPassword = "tls-only-secret";
constexpr const char* kX509Password = "x509-secret";

using Mode = MysqlTlsConfig::Mode;

// One MariaDB with TLS for the suite (its certificate is swapped by some tests, and put back).
class TlsToMariaDb : public SuiteServers<TlsToMariaDb> {
    friend class SuiteServers<TlsToMariaDb>;

  protected:
    static void startServers() {
        dir_ = std::make_unique<TempDir>("parley-mariadb-tls");
        pki_ = std::make_unique<TestPki>(dir_->path());
        ca_ = pki_->makeCa("database-ca");
        serverCertificate_ = pki_->issue("database", ca_, {"IP:127.0.0.1", "DNS:localhost"});
        database_ = std::make_unique<MariaDbServer>(
            DatabaseTls{ca_.certFile, serverCertificate_.certFile, serverCertificate_.keyFile});
        databaseName_ = database_->createDatabase();
        // Accounts the server lets in only over TLS, and only with a client certificate from
        // database-ca.
        database_->runAsRoot(std::string("CREATE USER 'tlsonly'@'%' IDENTIFIED BY '") +
                             kTlsOnlyPassword +
                             "' REQUIRE SSL; GRANT ALL ON `parley%`.* TO 'tlsonly'@'%'; " +
                             "CREATE USER 'x509'@'%' IDENTIFIED BY '" + kX509Password +
                             "' REQUIRE X509; GRANT ALL ON `parley%`.* TO 'x509'@'%';");
    }

    static void TearDownTestSuite() {
        database_.reset();
        pki_.reset();
        dir_.reset();
    }

    // What parleyd's store uses to reach the TLS database as 'tlsonly'.
    static MysqlConfig tlsConfig(Mode mode, const std::string& caFile) {
        MysqlConfig config = mysqlConfigFor(*database_, databaseName_);
        config.user = "tlsonly";
        config.tls.mode = mode;
        config.tls.files.caFile = caFile;
        return config;
    }

    static std::string cipherOf(store::MysqlConnection& connection) {
        const auto rows = connection.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", {});
        return rows.empty() ? "" : rows.front().text(1);
    }

    // The message of the SqlError that connecting with `config` throws ("" if it connects). A
    // TLS failure is retried as an unreachable server is (kind ConnectionLost); a refused login
    // is not.
    static std::string refusalOf(
        const MysqlConfig& config, const std::string& password,
        store::SqlError::Kind kind = store::SqlError::Kind::ConnectionLost) {
        try {
            store::MysqlConnection connection(config, password);
        } catch (const store::SqlError& error) {
            EXPECT_EQ(error.kind(), kind) << error.what();
            return error.what();
        }
        return "";
    }

    std::string endpoint() const { return "127.0.0.1:" + std::to_string(database_->port()); }

    // Puts the server's own certificate back when a test that swapped it ends.
    struct RestoreCertificate {
        ~RestoreCertificate() {
            database_->replaceTlsCertificate(serverCertificate_.certFile,
                                             serverCertificate_.keyFile);
        }
    };

    static inline std::unique_ptr<TempDir> dir_;
    static inline std::unique_ptr<TestPki> pki_;
    static inline CertificateFiles ca_;
    static inline CertificateFiles serverCertificate_;
    static inline std::unique_ptr<MariaDbServer> database_;
    static inline std::string databaseName_;
};

TEST_F(TlsToMariaDb, ParleydStoresThroughAVerifiedTlsConnection) {
    // TLS everywhere: the clients and parleyd to the broker, parleyd to the database.
    const auto brokerCertificate = pki_->issue("broker", ca_, {"IP:127.0.0.1"});
    MosquittoServer broker(
        {{"parleyd", "parleyd-secret"}, {"alice", "pw-alice"}, {"bob", "pw-bob"}},
        {.tls = BrokerTls{brokerCertificate.certFile, brokerCertificate.keyFile, "", false}});
    ParleydProcess parleyd("broker:\n  uri: " + broker.tlsUri() +
                           "\n  client_id: parleyd-mariadb-tls\n  username: parleyd\n"
                           "  password: parleyd-secret\n  tls: {ca_file: " +
                           ca_.certFile +
                           "}\n"
                           "store:\n  backend: mysql\n  mysql:\n    host: 127.0.0.1\n    port: " +
                           std::to_string(database_->port()) +
                           "\n    user: tlsonly\n    password: " + kTlsOnlyPassword +
                           "\n    database: " + databaseName_ +
                           "\n    pool_size: 3\n    tls:\n      mode: verify_identity\n"
                           "      ca_file: " +
                           ca_.certFile + "\nlog: {level: info}\n");

    MqttTestClient alice(broker.tlsUri(), "alice", "pw-alice", std::nullopt, "",
                         TlsSettings{ca_.certFile, "", ""});
    const auto opened = alice.request({{"op", "conv.open"}, {"peer", "bob"}});
    ASSERT_EQ(codeOf(opened), "ok") << opened << parleyd.log();
    const auto sent = alice.request({{"op", "msg.send"},
                                     {"conv", opened["conv"]},
                                     {"cmid", "tls-1"},
                                     {"body", "stored over TLS"}});
    ASSERT_EQ(codeOf(sent), "ok") << sent << parleyd.log();
    EXPECT_EQ(sent["seq"], 1);

    // What parleyd stored, read back the way parleyd's store connects, whose session is TLS.
    store::MysqlConnection reader(tlsConfig(Mode::VerifyIdentity, ca_.certFile), kTlsOnlyPassword);
    EXPECT_FALSE(cipherOf(reader).empty()) << "not an encrypted session";
    const auto rows = reader.query("SELECT body FROM messages WHERE cmid = 'tls-1'", {});
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(rows.front().text(0), "stored over TLS");
    EXPECT_EQ(parleyd.log().find("database unreachable"), std::string::npos) << parleyd.log();
}

TEST_F(TlsToMariaDb, AServerCertificateFromAnotherCaIsRefused) {
    const auto otherCa = pki_->makeCa("another-ca");
    const std::string expected = "mysql: TLS with " + endpoint() +
                                 " failed: the server's certificate is not signed by a CA in the "
                                 "CA file " +
                                 otherCa.certFile + ": TLS/SSL error: ";
    for (const Mode mode : {Mode::VerifyIdentity, Mode::VerifyCa}) {
        const std::string refusal = refusalOf(tlsConfig(mode, otherCa.certFile), kTlsOnlyPassword);
        EXPECT_EQ(refusal.rfind(expected, 0), 0U) << refusal;
    }

    // parleyd at start: it says so, and waits for the database as for one it cannot reach.
    TempDir dir("parley-mariadb-tls-parleyd");
    const std::string config = dir.file("parleyd.yaml");
    std::ofstream(config) << "broker: {uri: tcp://127.0.0.1:1, password: unused}\n"
                          << "store:\n  backend: mysql\n  mysql:\n    port: " << database_->port()
                          << "\n    user: tlsonly\n    password: " << kTlsOnlyPassword
                          << "\n    database: " << databaseName_
                          << "\n    tls: {ca_file: " << otherCa.certFile << "}\n"
                          << "  retry_for: 1s\n";  // so that SIGTERM is taken between attempts
    ChildProcess parleyd({parleydPath(), "--config", config}, dir.file("parleyd.log"));
    EXPECT_TRUE(parleyd.waitForLog("store: migrate attempt 1 failed, retrying: " + expected, 30s))
        << parleyd.log();
    EXPECT_EQ(parleyd.terminate(10s), 0) << parleyd.log();
}

TEST_F(TlsToMariaDb, VerifyIdentityChecksTheHostNameAndVerifyCaDoesNot) {
    RestoreCertificate restore;
    const auto elsewhere = pki_->issue("database-elsewhere", ca_, {"DNS:db.example.com"});
    database_->replaceTlsCertificate(elsewhere.certFile, elsewhere.keyFile);

    const std::string refusal =
        refusalOf(tlsConfig(Mode::VerifyIdentity, ca_.certFile), kTlsOnlyPassword);
    EXPECT_EQ(refusal.rfind("mysql: TLS with " + endpoint() +
                                " failed: the server's certificate does not name 127.0.0.1 "
                                "(mode verify_identity checks store.mysql.host",
                            0),
              0U)
        << refusal;

    store::MysqlConnection connection(tlsConfig(Mode::VerifyCa, ca_.certFile), kTlsOnlyPassword);
    EXPECT_FALSE(cipherOf(connection).empty());
}

TEST_F(TlsToMariaDb, AnExpiredServerCertificateIsRefused) {
    RestoreCertificate restore;
    const auto expired = pki_->issue("database-expired", ca_, {"IP:127.0.0.1"},
                                     -std::chrono::hours(48), -std::chrono::hours(24));
    database_->replaceTlsCertificate(expired.certFile, expired.keyFile);
    for (const Mode mode : {Mode::VerifyIdentity, Mode::VerifyCa}) {
        const std::string refusal = refusalOf(tlsConfig(mode, ca_.certFile), kTlsOnlyPassword);
        EXPECT_EQ(refusal.rfind("mysql: TLS with " + endpoint() +
                                    " failed: the server's certificate has expired: ",
                                0),
                  0U)
            << refusal;
    }
}

TEST_F(TlsToMariaDb, AClientCertificateForAnAccountThatRequiresOne) {
    const auto parleydCertificate = pki_->issue("parleyd-db-client", ca_, {"DNS:parleyd"});
    MysqlConfig config = tlsConfig(Mode::VerifyIdentity, ca_.certFile);
    config.user = "x509";
    const std::string withoutCertificate =
        refusalOf(config, kX509Password, store::SqlError::Kind::Other);
    EXPECT_NE(withoutCertificate.find("Access denied for user 'x509'"), std::string::npos)
        << withoutCertificate;

    config.tls.files.certFile = parleydCertificate.certFile;
    config.tls.files.keyFile = parleydCertificate.keyFile;
    store::MysqlConnection connection(config, kX509Password);
    EXPECT_FALSE(cipherOf(connection).empty());
}

// MariaDB's client library uses a server without TLS in the clear even when given a CA (what
// verify_ca sets): parleyd's own check of Ssl_cipher refuses that session.
TEST_F(TlsToMariaDb, AServerWithoutTlsIsRefused) {
    MariaDbServer plain;
    MysqlConfig config = mysqlConfigFor(plain, plain.createDatabase());
    config.tls.files.caFile = ca_.certFile;

    config.tls.mode = Mode::VerifyCa;
    const std::string verifyCa = refusalOf(config, plain.password());
    EXPECT_EQ(verifyCa,
              "mysql: the server at 127.0.0.1:" + std::to_string(plain.port()) +
                  " did not encrypt the connection, and store.mysql.tls is set: refused (does the "
                  "server have ssl_cert and ssl_key?)");

    config.tls.mode = Mode::VerifyIdentity;
    const std::string verifyIdentity = refusalOf(config, plain.password());
    EXPECT_EQ(verifyIdentity.rfind("mysql: TLS with 127.0.0.1:" + std::to_string(plain.port()) +
                                       " failed: the server does not offer TLS",
                                   0),
              0U)
        << verifyIdentity;
}

}  // namespace
}  // namespace parley::testing
