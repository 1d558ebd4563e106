// The TLS pieces every MQTT client of Parley shares (parley/mqtt/TlsSettings.h, core/mqtt): which
// URIs are TLS, their ports, and the checks that need no network. Handshakes, good and bad, are
// in tests/integration/TlsTest.cpp.
#include <gtest/gtest.h>

#include <mqtt/connect_options.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "parley/mqtt/SocketTuning.h"
#include "parley/mqtt/TlsSettings.h"

namespace parley {
namespace {

std::string errorOf(const TlsSettings& tls) {
    try {
        checkTlsFiles(tls);
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return "";
}

TEST(TlsSettings, TlsUris) {
    EXPECT_TRUE(isTlsUri("ssl://broker:8883"));
    EXPECT_TRUE(isTlsUri("mqtts://broker"));
    EXPECT_TRUE(isTlsUri("wss://broker:9443/mqtt"));
    EXPECT_FALSE(isTlsUri("tcp://broker:1883"));
    EXPECT_FALSE(isTlsUri("ws://broker:9001"));
    EXPECT_FALSE(isTlsUri("mqtt://broker"));
}

TEST(TlsSettings, BrokerUriPortsArePahosDefaultsForEachScheme) {
    std::string host;
    int port = 0;
    ASSERT_TRUE(parseBrokerUri("ssl://broker.example.com", host, port));
    EXPECT_EQ(host, "broker.example.com");
    EXPECT_EQ(port, 8883);
    ASSERT_TRUE(parseBrokerUri("tcp://127.0.0.1", host, port));
    EXPECT_EQ(port, 1883);
    ASSERT_TRUE(parseBrokerUri("wss://chat.example.com/mqtt", host, port));
    EXPECT_EQ(host, "chat.example.com");
    EXPECT_EQ(port, 443);
    ASSERT_TRUE(parseBrokerUri("wss://127.0.0.1:9443/mqtt", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 9443);
    ASSERT_TRUE(parseBrokerUri("ssl://[::1]:8884", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 8884);
}

TEST(TlsSettings, TlsFilesForAPlainUriAreRefused) {
    mqtt::connect_options options;
    EXPECT_NO_THROW(applyTls(options, "tcp://127.0.0.1:1883", TlsSettings{}));
    EXPECT_NO_THROW(applyTls(options, "ssl://127.0.0.1:8883", TlsSettings{})) << "the system's CAs";
    try {
        applyTls(options, "tcp://10.0.0.1:1883", TlsSettings{"ca.pem", "", ""});
        ADD_FAILURE() << "a CA file with a tcp:// uri was accepted";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("tcp://10.0.0.1:1883 is not a TLS address"),
                  std::string::npos)
            << error.what();
    }
}

TEST(TlsSettings, FilesAreCheckedWithTheirNameAndWhatIsWrong) {
    const auto folder =
        std::filesystem::temp_directory_path() / ("parley-tls-unit-" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder);
    const std::string garbage = (folder / "garbage.pem").string();
    std::ofstream(garbage) << "not a certificate\n";

    EXPECT_EQ(errorOf(TlsSettings{}), "");
    EXPECT_EQ(errorOf(TlsSettings{(folder / "missing.pem").string(), "", ""}),
              "CA file " + (folder / "missing.pem").string() +
                  ": cannot be read: No such file or directory");
    EXPECT_EQ(errorOf(TlsSettings{garbage, "", ""}),
              "CA file " + garbage + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
    EXPECT_EQ(errorOf(TlsSettings{"", garbage, ""}),
              "a client certificate needs both its certificate file and its key file");
    EXPECT_EQ(
        errorOf(TlsSettings{"", garbage, garbage}),
        "certificate file " + garbage + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
    std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace parley
