#pragma once

#include <string>

namespace mqtt {
class connect_options;
}

namespace parley {

// The files of a TLS client: which CAs may sign the server's certificate and, for a server that
// asks for one, the client's own certificate. The same for parleyd (broker.tls, and
// store.mysql.tls) and every client (--ca-file, --cert, --key). Towards the broker, the server's
// certificate and its host name are always verified: there is no setting to turn that off.
struct TlsSettings {
    // PEM file of the CA certificates to trust; empty: the system's (/etc/ssl/certs).
    std::string caFile;
    // PEM client certificate (chain) and its unencrypted private key; both or neither.
    std::string certFile;
    std::string keyFile;

    bool any() const { return !caFile.empty() || !certFile.empty() || !keyFile.empty(); }
};

// ssl://, mqtts:// and wss:// (Paho's TLS schemes).
bool isTlsUri(const std::string& uri);

// Reads the files as the TLS handshake will, so that a wrong path or content is reported before
// connecting, by file and reason: "CA file /etc/parley/ca.pem: cannot be read: No such file or
// directory". Throws std::invalid_argument. Paho would only say "TCP/TLS connect failure", and an
// encrypted key would make OpenSSL ask for its passphrase on the terminal.
void checkTlsFiles(const TlsSettings& tls);

// The one place where Parley's MQTT connections get their TLS options: for a TLS URI, verify
// the broker's certificate chain (against tls.caFile, or the system's CAs) and that it names the
// host of the URI, and present the client certificate if there is one. Without this Paho refuses
// an ssl:// URI with "MQTT error [-6]: Invalid (NULL) parameter". Throws std::invalid_argument if
// TLS files are given for a URI that is not TLS: a password must not go out in the clear to a
// user who asked for TLS.
void applyTls(mqtt::connect_options& options, const std::string& uri, const TlsSettings& tls);

}  // namespace parley
