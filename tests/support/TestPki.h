#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace parley::testing {

// A certificate and its private key, as PEM files.
struct CertificateFiles {
    std::string certFile;
    std::string keyFile;
};

// Certificates for TLS tests, made with OpenSSL's C API into a folder: CAs, and certificates
// they sign with exactly the names and validity a test needs (one for another host, one that
// expired). EC P-256 keys, SHA-256 signatures, X.509 v3 with the extensions a real CA sets.
class TestPki {
  public:
    // Writes its files into `folder` (which must exist), named after what they are.
    explicit TestPki(std::string folder);

    // A self-signed CA, "CN=<name>": <name>.crt and <name>.key.
    CertificateFiles makeCa(const std::string& name);
    // A certificate for a server and a client alike, "CN=<name>", signed by `ca`, with these
    // subjectAltName entries ("IP:127.0.0.1", "DNS:localhost"), valid from now + validFrom to
    // now + validUntil (negative offsets are in the past: an expired certificate).
    CertificateFiles issue(const std::string& name, const CertificateFiles& ca,
                           const std::vector<std::string>& altNames,
                           std::chrono::seconds validFrom = -std::chrono::hours(1),
                           std::chrono::seconds validUntil = std::chrono::hours(24));

  private:
    std::string folder_;
    long serial_ = 1;
};

}  // namespace parley::testing
