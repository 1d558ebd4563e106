#include "parley/mqtt/TlsSettings.h"

#include <mqtt/connect_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace parley {

namespace {

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
struct X509Deleter {
    void operator()(X509* certificate) const { X509_free(certificate); }
};
struct KeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;
using Certificate = std::unique_ptr<X509, X509Deleter>;
using PrivateKey = std::unique_ptr<EVP_PKEY, KeyDeleter>;

File open(const std::string& path, const std::string& what) {
    File file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        throw std::invalid_argument(what + " " + path +
                                    ": cannot be read: " + std::strerror(errno));
    }
    return file;
}

// Never asks for a passphrase: OpenSSL's default would read one from the terminal.
int refusePassphrase(char*, int, int, void*) {
    return -1;
}

Certificate readCertificate(std::FILE* file) {
    return Certificate(PEM_read_X509(file, nullptr, refusePassphrase, nullptr));
}

}  // namespace

bool isTlsUri(const std::string& uri) {
    for (const char* scheme : {"ssl://", "mqtts://", "wss://"}) {
        if (uri.rfind(scheme, 0) == 0) {
            return true;
        }
    }
    return false;
}

void checkTlsFiles(const TlsSettings& tls) {
    if (!tls.caFile.empty()) {
        auto file = open(tls.caFile, "CA file");
        int certificates = 0;
        while (readCertificate(file.get())) {
            ++certificates;
        }
        ERR_clear_error();  // the read past the last certificate
        if (certificates == 0) {
            throw std::invalid_argument("CA file " + tls.caFile +
                                        ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
        }
    }
    if (tls.certFile.empty() != tls.keyFile.empty()) {
        throw std::invalid_argument(
            "a client certificate needs both its certificate file and its key file");
    }
    if (tls.certFile.empty()) {
        return;
    }
    Certificate certificate;
    {
        auto file = open(tls.certFile, "certificate file");
        certificate = readCertificate(file.get());
        ERR_clear_error();
        if (!certificate) {
            throw std::invalid_argument("certificate file " + tls.certFile +
                                        ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)");
        }
    }
    PrivateKey key;
    {
        auto file = open(tls.keyFile, "key file");
        key.reset(PEM_read_PrivateKey(file.get(), nullptr, refusePassphrase, nullptr));
        ERR_clear_error();
        if (!key) {
            throw std::invalid_argument(
                "key file " + tls.keyFile +
                ": no unencrypted PEM private key in it (an encrypted key would need its "
                "passphrase at every start: decrypt it with `openssl pkey -in KEY -out KEY2` and "
                "keep it readable only by its user)");
        }
    }
    if (X509_check_private_key(certificate.get(), key.get()) != 1) {
        ERR_clear_error();
        throw std::invalid_argument("key file " + tls.keyFile +
                                    " is not the private key of the certificate in " +
                                    tls.certFile);
    }
}

void applyTls(mqtt::connect_options& options, const std::string& uri, const TlsSettings& tls) {
    if (!isTlsUri(uri)) {
        if (tls.any()) {
            throw std::invalid_argument(
                "a CA file or client certificate is for TLS, but " + uri +
                " is not a TLS address: use ssl://HOST:8883 (or wss://HOST:PORT for WebSockets)");
        }
        return;
    }
    mqtt::ssl_options ssl;
    if (!tls.caFile.empty()) {
        ssl.set_trust_store(tls.caFile);  // else Paho loads the system's CAs
    }
    if (!tls.certFile.empty()) {
        ssl.set_key_store(tls.certFile);
        ssl.set_private_key(tls.keyFile);
    }
    ssl.set_enable_server_cert_auth(true);  // the chain
    ssl.set_verify(true);                   // the host name (or IP address) of the URI
    options.set_ssl(std::move(ssl));
}

}  // namespace parley
