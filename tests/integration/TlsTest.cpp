// TLS between the clients, the broker and parleyd: a real Mosquitto with TLS listeners (MQTT and
// WebSockets), certificates made for each test by TestPki, parleyd and the real client programs
// (parley, parleyctl, parley-bench) connecting over TLS; and each way a broker's certificate can
// be wrong, refused with a message that says which.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ChildProcess.h"
#include "MosquittoServer.h"
#include "MqttTestClient.h"
#include "ParleydProcess.h"
#include "Paths.h"
#include "Ports.h"
#include "TempDir.h"
#include "TestPki.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kParleydPassword = "parleyd-tls-secret";
constexpr const char* kBenchPassword = "bench-tls-secret";

std::string passwordOf(const std::string& uid) {
    return "pw-" + uid;
}

std::vector<BrokerUser> brokerUsers() {
    std::vector<BrokerUser> users{{"parleyd", kParleydPassword}};
    for (const char* uid : {"alice", "bob", "carol", "dave", "ops"}) {
        users.push_back({uid, passwordOf(uid)});
    }
    for (const char* uid : {"tlsbench-0001", "tlsbench-0002"}) {
        users.push_back({uid, kBenchPassword});  // parley-bench gives all its users one
    }
    return users;
}

struct Outcome {
    int status;
    std::string output;  // stdout and stderr
};

std::string readFile(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// The peer address ("127.0.0.1:40312") of each client id's connection, and the listener port
// of each peer address, from the broker's log (log_type all).
int listenerPortOf(const std::string& brokerLog, const std::string& clientId) {
    std::map<std::string, int> portOfPeer;
    const std::regex connection(R"(New connection from (\S+) on port (\d+)\.)");
    for (std::sregex_iterator it(brokerLog.begin(), brokerLog.end(), connection), end; it != end;
         ++it) {
        portOfPeer[(*it)[1]] = std::stoi((*it)[2]);
    }
    const std::regex client("New client connected from (\\S+) as " + clientId + " ");
    std::smatch match;
    if (!std::regex_search(brokerLog, match, client)) {
        return -1;
    }
    const auto found = portOfPeer.find(match[1]);
    return found == portOfPeer.end() ? -1 : found->second;
}

class TlsToBroker : public ::testing::Test {
  protected:
    // parleyd's YAML: the broker at `uri` as the service account, SQLite in its folder.
    static std::string parleydYaml(const std::string& uri, const TlsSettings& tls) {
        std::string yaml =
            "broker:\n  uri: " + uri +
            "\n  client_id: parleyd-tls\n  username: parleyd\n  password: " + kParleydPassword +
            "\n";
        if (tls.any()) {
            yaml += "  tls:\n";
            if (!tls.caFile.empty()) {
                yaml += "    ca_file: " + tls.caFile + "\n";
            }
            if (!tls.certFile.empty()) {
                yaml += "    cert_file: " + tls.certFile + "\n    key_file: " + tls.keyFile + "\n";
            }
        }
        return yaml +
               "store:\n  backend: sqlite\n  sqlite: {path: parley.db, synchronous: normal}\n"
               "admins: [ops]\nlog: {level: info}\n";
    }

    Outcome run(std::vector<std::string> argv) {
        const std::string log = dir_.file("run-" + std::to_string(++runs_) + ".log");
        const int status = runToCompletion(std::move(argv), log, 60s);
        return {status, readFile(log)};
    }

    // `parley` as `uid`, with the connection flags first; no personal config file.
    Outcome runParley(const std::string& uid, const std::string& uri,
                      std::vector<std::string> flags, std::vector<std::string> command) {
        std::ofstream(dir_.file("client.conf")) << "prefix = \"parley/v1\"\n";
        std::vector<std::string> argv = {PARLEY_CLIENT_PATH,
                                         "--config",
                                         dir_.file("client.conf"),
                                         "--uri",
                                         uri,
                                         "--user",
                                         uid,
                                         "--password",
                                         passwordOf(uid),
                                         "--timeout",
                                         "20"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        argv.insert(argv.end(), command.begin(), command.end());
        return run(argv);
    }

    // A broker whose TLS listeners present `certificate`.
    static std::unique_ptr<MosquittoServer> brokerPresenting(const CertificateFiles& certificate) {
        return std::make_unique<MosquittoServer>(
            brokerUsers(),
            BrokerOptions{.tls = BrokerTls{certificate.certFile, certificate.keyFile, "", false}});
    }

    // parleyd must not start against this broker, and say `reason` in its log; so must `parley`.
    void expectRefusedWith(MosquittoServer& broker, const TlsSettings& tls,
                           const std::string& reason) {
        const std::string config = dir_.file("parleyd-refused.yaml");
        std::ofstream(config) << parleydYaml(broker.tlsUri(), tls);
        ChildProcess parleyd({parleydPath(), "--config", config}, dir_.file("parleyd-refused.log"),
                             {}, dir_.path());
        EXPECT_TRUE(parleyd.waitForLog(reason, 30s))
            << "parleyd's log does not say: " << reason << "\n"
            << parleyd.log();
        EXPECT_NE(parleyd.log().find(
                      "transport: cannot connect to " + broker.tlsUri() +
                      " as parleyd: TLS with 127.0.0.1:" + std::to_string(broker.tlsPort()) + ": "),
                  std::string::npos)
            << parleyd.log();
        EXPECT_EQ(parleyd.log().find("parleyd ready"), std::string::npos) << parleyd.log();
        EXPECT_EQ(parleyd.terminate(10s), 0) << parleyd.log();

        std::vector<std::string> flags;
        if (!tls.caFile.empty()) {
            flags = {"--ca-file", tls.caFile};
        }
        const auto refused = runParley("alice", broker.tlsUri(), flags, {"list"});
        EXPECT_NE(refused.status, 0) << refused.output;
        EXPECT_NE(refused.output.find("parley: cannot connect to " + broker.tlsUri() +
                                      " as alice: TLS with 127.0.0.1:" +
                                      std::to_string(broker.tlsPort()) + ": " + reason),
                  std::string::npos)
            << refused.output;
    }

    TempDir dir_{"parley-tls-test"};
    TestPki pki_{dir_.path()};
    CertificateFiles ca_ = pki_.makeCa("parley-test-ca");
    CertificateFiles brokerCertificate_ =
        pki_.issue("broker", ca_, {"IP:127.0.0.1", "DNS:localhost"});
    int runs_ = 0;
};

TEST_F(TlsToBroker, ParleydAndEveryClientTalkOverTls) {
    auto broker = brokerPresenting(brokerCertificate_);
    const TlsSettings trustTheCa{ca_.certFile, "", ""};
    ParleydProcess parleyd(parleydYaml(broker->tlsUri(), trustTheCa));
    EXPECT_EQ(listenerPortOf(broker->log(), "parleyd-tls"), broker->tlsPort())
        << "parleyd did not come in on the TLS listener:\n"
        << broker->log();

    // `parley` sends over TLS, through parleyd, and gets the reply; bob, over TLS too, gets it.
    MqttTestClient bob(broker->tlsUri(), "bob", passwordOf("bob"), std::nullopt, "bob-tls",
                       trustTheCa);
    const auto sent = runParley("alice", broker->tlsUri(), {"--ca-file", ca_.certFile},
                                {"--json", "send", "--to", "bob", "hello over TLS"});
    ASSERT_EQ(sent.status, 0) << sent.output << "\nparleyd:\n" << parleyd.log();
    const json reply = json::parse(sent.output.substr(0, sent.output.find('\n')));
    EXPECT_EQ(reply["seq"], 1) << sent.output;
    const auto event = bob.waitFor([](const Received& message) {
        return message.payload.is_object() && message.payload.value("ev", "") == "msg";
    });
    EXPECT_EQ(event.payload["body"], "hello over TLS");
    EXPECT_EQ(event.payload["sender"], "alice");
    EXPECT_EQ(listenerPortOf(broker->log(), "bob-tls"), broker->tlsPort());

    // MQTT over WebSockets over TLS (what a browser uses): a command and its reply. (Mosquitto
    // logs no listener port for WebSocket clients; that port has only the TLS WebSocket one.)
    MqttTestClient carol(broker->wssUri(), "carol", passwordOf("carol"), std::nullopt, "carol-wss",
                         trustTheCa);
    EXPECT_EQ(codeOf(carol.request({{"op", "ping"}})), "ok");

    // parleyctl and parley-bench take the same TLS flags.
    std::ofstream(dir_.file("empty.conf")).close();
    const auto shown = run({PARLEYCTL_PATH, "--config", dir_.file("empty.conf"), "--uri",
                            broker->tlsUri(), "--ca-file", ca_.certFile, "--user", "ops",
                            "--password", passwordOf("ops"), "--json", "user", "show", "alice"});
    ASSERT_EQ(shown.status, 0) << shown.output;
    EXPECT_EQ(json::parse(shown.output)["user"], "alice") << shown.output;

    const auto bench =
        run({PARLEY_BENCH_PATH, "--uri", broker->tlsUri(), "--ca-file", ca_.certFile,
             "--user-prefix", "tlsbench-", "--password", kBenchPassword, "--users", "2", "--count",
             "20", "--rate", "50", "--drain", "10", "--json", "--quiet"});
    ASSERT_EQ(bench.status, 0) << bench.output;
    const json report = json::parse(bench.output);
    EXPECT_EQ(report["stored"], 20) << bench.output;
    EXPECT_EQ(report["lost_deliveries"], 0) << bench.output;
}

// A listener with require_certificate: parleyd and `parley` present a client certificate from
// the CA the broker trusts; without one they are refused, and told why.
TEST_F(TlsToBroker, AClientCertificateWhereTheBrokerRequiresOne) {
    MosquittoServer broker(
        brokerUsers(), {.tls = BrokerTls{brokerCertificate_.certFile, brokerCertificate_.keyFile,
                                         ca_.certFile, true}});
    const auto parleydCertificate = pki_.issue("parleyd", ca_, {"DNS:parleyd"});
    const auto aliceCertificate = pki_.issue("alice", ca_, {"DNS:alice"});

    ParleydProcess parleyd(parleydYaml(
        broker.tlsUri(),
        TlsSettings{ca_.certFile, parleydCertificate.certFile, parleydCertificate.keyFile}));
    const auto sent = runParley("alice", broker.tlsUri(),
                                {"--ca-file", ca_.certFile, "--cert", aliceCertificate.certFile,
                                 "--key", aliceCertificate.keyFile},
                                {"--json", "send", "--to", "bob", "with a client certificate"});
    ASSERT_EQ(sent.status, 0) << sent.output << "\nparleyd:\n" << parleyd.log();
    EXPECT_NE(sent.output.find("\"seq\":1"), std::string::npos) << sent.output;

    expectRefusedWith(broker, TlsSettings{ca_.certFile, "", ""},
                      "the broker requires a client certificate and none was given");
}

TEST_F(TlsToBroker, ABrokerCertificateFromAnotherCaIsRefused) {
    auto broker = brokerPresenting(brokerCertificate_);
    const auto otherCa = pki_.makeCa("some-other-ca");
    expectRefusedWith(*broker, TlsSettings{otherCa.certFile, "", ""},
                      "the broker's certificate (CN=broker, issued by CN=parley-test-ca) is not "
                      "signed by a CA in the CA file " +
                          otherCa.certFile + " (unable to get local issuer certificate)");
}

TEST_F(TlsToBroker, AnExpiredBrokerCertificateIsRefused) {
    const auto expired = pki_.issue("expired-broker", ca_, {"IP:127.0.0.1"},
                                    -std::chrono::hours(48), -std::chrono::hours(24));
    auto broker = brokerPresenting(expired);
    expectRefusedWith(*broker, TlsSettings{ca_.certFile, "", ""},
                      "the broker's certificate expired on 20");
    EXPECT_NE(readFile(dir_.file("parleyd-refused.log")).find("(certificate has expired)"),
              std::string::npos);
}

TEST_F(TlsToBroker, ABrokerCertificateForAnotherHostIsRefused) {
    const auto elsewhere = pki_.issue("elsewhere", ca_, {"DNS:broker.example.com"});
    auto broker = brokerPresenting(elsewhere);
    expectRefusedWith(*broker, TlsSettings{ca_.certFile, "", ""},
                      "the broker's certificate is not for 127.0.0.1: it names "
                      "DNS:broker.example.com; connect to one of those names, or give the broker "
                      "a certificate for 127.0.0.1 (IP address mismatch)");
}

// Was "MQTT error [-6]: Invalid (NULL) parameter": Paho needs TLS options for an ssl:// URI.
// Without --ca-file the system's CAs decide, and they do not know the test CA.
TEST_F(TlsToBroker, AnSslUriWithoutCaFileIsCheckedAgainstTheSystemsCas) {
    auto broker = brokerPresenting(brokerCertificate_);
    const auto refused = runParley("alice", broker->tlsUri(), {}, {"list"});
    EXPECT_NE(refused.status, 0) << refused.output;
    EXPECT_EQ(refused.output.find("Invalid (NULL) parameter"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("is not signed by a CA in the system's trusted CAs (no CA "
                                  "file given)"),
              std::string::npos)
        << refused.output;
}

TEST_F(TlsToBroker, AnSslUriToAPlainListenerSaysSo) {
    auto broker = brokerPresenting(brokerCertificate_);
    const std::string wrong = "ssl://127.0.0.1:" + std::to_string(broker->port());
    const auto refused = runParley("alice", wrong, {"--ca-file", ca_.certFile}, {"list"});
    EXPECT_NE(refused.status, 0) << refused.output;
    EXPECT_NE(
        refused.output.find("TLS with 127.0.0.1:" + std::to_string(broker->port()) +
                            ": the broker closed the connection during the TLS handshake: "
                            "is 127.0.0.1:" +
                            std::to_string(broker->port()) + " a plain MQTT (tcp://) listener?"),
        std::string::npos)
        << refused.output;
}

TEST_F(TlsToBroker, TlsFilesAreCheckedBeforeConnecting) {
    auto broker = brokerPresenting(brokerCertificate_);
    const auto runParleyd = [&](const TlsSettings& tls) {
        const std::string config = dir_.file("parleyd-files.yaml");
        std::ofstream(config) << parleydYaml(broker->tlsUri(), tls);
        return run({parleydPath(), "--config", config});
    };
    const auto missing = runParleyd(TlsSettings{dir_.file("nowhere.pem"), "", ""});
    EXPECT_EQ(missing.status, 1) << missing.output;
    EXPECT_NE(missing.output.find("invalid configuration: broker.tls: CA file " +
                                  dir_.file("nowhere.pem") +
                                  ": cannot be read: No such file or directory"),
              std::string::npos)
        << missing.output;

    std::ofstream(dir_.file("not-a-certificate.pem")) << "hello\n";
    const auto garbage = runParleyd(TlsSettings{dir_.file("not-a-certificate.pem"), "", ""});
    EXPECT_EQ(garbage.status, 1) << garbage.output;
    EXPECT_NE(garbage.output.find("no PEM certificate in it"), std::string::npos) << garbage.output;

    const auto other = pki_.issue("other", ca_, {"DNS:other"});
    const auto mismatched =
        runParleyd(TlsSettings{ca_.certFile, brokerCertificate_.certFile, other.keyFile});
    EXPECT_EQ(mismatched.status, 1) << mismatched.output;
    EXPECT_NE(mismatched.output.find("broker.tls: key file " + other.keyFile +
                                     " is not the private key of the certificate in " +
                                     brokerCertificate_.certFile),
              std::string::npos)
        << mismatched.output;

    // The same check in the clients, and TLS files for a tcp:// address are refused: the
    // password would go out in the clear.
    const auto clientMissing =
        runParley("alice", broker->tlsUri(), {"--ca-file", dir_.file("nowhere.pem")}, {"list"});
    EXPECT_NE(clientMissing.status, 0);
    EXPECT_NE(clientMissing.output.find("CA file " + dir_.file("nowhere.pem") + ": cannot be read"),
              std::string::npos)
        << clientMissing.output;
    const auto plain = runParley("alice", broker->uri(), {"--ca-file", ca_.certFile}, {"list"});
    EXPECT_NE(plain.status, 0);
    EXPECT_NE(plain.output.find(broker->uri() + " is not a TLS address: use ssl://HOST:8883"),
              std::string::npos)
        << plain.output;
}

// The production broker configuration as the package installs it (config/production/
// mosquitto.conf.in), with only its listener addresses, certificate, password file and the paths
// of the plugin and the ACL pointed at the test's: it starts, and serves MQTT and WebSockets over
// TLS, with Parley's plugin.
TEST_F(TlsToBroker, TheShippedProductionBrokerConfigServesTls) {
    std::string config = installedProductionBrokerConfig();
    const int mqttPort = freeLoopbackPort();
    int webSocketPort = freeLoopbackPort();
    while (webSocketPort == mqttPort) {
        webSocketPort = freeLoopbackPort();
    }
    const std::string passwords = dir_.file("passwd");
    std::ofstream(passwords) << "alice:" << passwordOf("alice") << "\nparleyd:" << kParleydPassword
                             << "\n";
    ASSERT_EQ(runToCompletion({"mosquitto_passwd", "-U", passwords}, dir_.file("passwd.log"), 30s),
              0);
    const std::vector<std::pair<std::string, std::string>> replacements = {
        {"listener 8883\n", "listener " + std::to_string(mqttPort) + " 127.0.0.1\n"},
        {"listener 9443\n", "listener " + std::to_string(webSocketPort) + " 127.0.0.1\n"},
        {"/etc/mosquitto/certs/parley/fullchain.pem", brokerCertificate_.certFile},
        {"/etc/mosquitto/certs/parley/privkey.pem", brokerCertificate_.keyFile},
        {"/etc/mosquitto/passwd", passwords},
        {"/etc/parley/mosquitto/acl", sourceDir() + "/config/mosquitto/acl"},
        {"/usr/lib/parley/parley_jwt_auth.so", PARLEY_BROKER_PLUGIN_PATH},
    };
    for (const auto& [from, to] : replacements) {
        ASSERT_NE(config.find(from), std::string::npos)
            << "no longer in config/production/mosquitto.conf.in: " << from;
        for (size_t at = config.find(from); at != std::string::npos;
             at = config.find(from, at + to.size())) {
            config.replace(at, from.size(), to);
        }
    }
    ASSERT_EQ(config.find("\nlistener 8883"), std::string::npos);
    // No setting left that reads this machine's /etc or /usr (comments may name them).
    ASSERT_FALSE(std::regex_search(config, std::regex("(^|\n)[a-z_]+ (/etc|/usr)/"))) << config;
    const std::string configFile = dir_.file("production.conf");
    std::ofstream(configFile) << "user root\npersistence false\nlog_dest stderr\nlog_type all\n"
                              << config;
    ChildProcess broker({"mosquitto", "-c", configFile}, dir_.file("production.log"),
                        MosquittoServer::environment());
    ASSERT_TRUE(broker.waitForLog(" running", 10s)) << broker.log();
    ASSERT_TRUE(waitForPort(webSocketPort, 5s)) << broker.log();
    EXPECT_NE(broker.log().find("jwt_auth: topics parley/v1/..., service accounts parleyd"),
              std::string::npos)
        << broker.log();
    // Its two listeners and nothing else: no plain one, and no default one on 1883 either.
    const std::string log = broker.log();
    size_t listeners = 0;
    for (size_t at = log.find("listen socket on port"); at != std::string::npos;
         at = log.find("listen socket on port", at + 1)) {
        ++listeners;
    }
    EXPECT_EQ(listeners, 2U) << log;

    const TlsSettings trustTheCa{ca_.certFile, "", ""};
    const std::string mqtt = "ssl://127.0.0.1:" + std::to_string(mqttPort);
    ParleydProcess parleyd(parleydYaml(mqtt, trustTheCa));
    MqttTestClient overMqtt(mqtt, "alice", passwordOf("alice"), std::nullopt, "", trustTheCa);
    EXPECT_EQ(codeOf(overMqtt.request({{"op", "ping"}})), "ok");
    MqttTestClient overWebSockets("wss://127.0.0.1:" + std::to_string(webSocketPort), "alice",
                                  passwordOf("alice"), std::nullopt, "", trustTheCa);
    EXPECT_EQ(codeOf(overWebSockets.request({{"op", "ping"}})), "ok");
}

}  // namespace
}  // namespace parley::testing
