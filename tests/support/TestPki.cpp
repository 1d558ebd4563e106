#include "TestPki.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace parley::testing {

namespace {

struct KeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateDeleter {
    void operator()(X509* certificate) const { X509_free(certificate); }
};
struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Certificate = std::unique_ptr<X509, CertificateDeleter>;
using File = std::unique_ptr<std::FILE, FileCloser>;

[[noreturn]] void fail(const std::string& what) {
    char reason[256] = "";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    throw std::runtime_error("TestPki: " + what + ": " + reason);
}

File openForWriting(const std::string& path) {
    File file(std::fopen(path.c_str(), "wb"));
    if (!file) {
        throw std::runtime_error("TestPki: cannot write " + path);
    }
    return file;
}

Key newKey() {
    Key key(EVP_EC_gen("P-256"));
    if (!key) {
        fail("EC key generation");
    }
    return key;
}

Key readKey(const std::string& path) {
    File file(std::fopen(path.c_str(), "rb"));
    Key key(file ? PEM_read_PrivateKey(file.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
        fail("cannot read the key " + path);
    }
    return key;
}

Certificate readCertificate(const std::string& path) {
    File file(std::fopen(path.c_str(), "rb"));
    Certificate certificate(file ? PEM_read_X509(file.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!certificate) {
        fail("cannot read the certificate " + path);
    }
    return certificate;
}

void addExtension(X509* certificate, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    if (extension == nullptr) {
        fail("extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
    }
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
}

// A certificate for `key`, "CN=<name>", without signature or extensions yet.
Certificate newCertificate(const std::string& name, EVP_PKEY* key, long serial,
                           std::chrono::seconds validFrom, std::chrono::seconds validUntil) {
    Certificate certificate(X509_new());
    X509_set_version(certificate.get(), 2);  // v3
    ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(certificate.get()), validFrom.count());
    X509_gmtime_adj(X509_getm_notAfter(certificate.get()), validUntil.count());
    X509_NAME* subject = X509_get_subject_name(certificate.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_pubkey(certificate.get(), key);
    return certificate;
}

CertificateFiles write(const std::string& stem, X509* certificate, EVP_PKEY* key) {
    CertificateFiles files{stem + ".crt", stem + ".key"};
    auto certFile = openForWriting(files.certFile);
    auto keyFile = openForWriting(files.keyFile);
    if (PEM_write_X509(certFile.get(), certificate) != 1 ||
        PEM_write_PrivateKey(keyFile.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        fail("cannot write " + stem);
    }
    return files;
}

}  // namespace

TestPki::TestPki(std::string folder) : folder_(std::move(folder)) {}

CertificateFiles TestPki::makeCa(const std::string& name) {
    Key key = newKey();
    Certificate ca = newCertificate(name, key.get(), serial_++, -std::chrono::hours(1),
                                    std::chrono::hours(24 * 30));
    X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
    addExtension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
    addExtension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    addExtension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(ca.get(), key.get(), EVP_sha256()) == 0) {
        fail("signing the CA " + name);
    }
    return write(folder_ + "/" + name, ca.get(), key.get());
}

CertificateFiles TestPki::issue(const std::string& name, const CertificateFiles& ca,
                                const std::vector<std::string>& altNames,
                                std::chrono::seconds validFrom, std::chrono::seconds validUntil) {
    const Certificate caCertificate = readCertificate(ca.certFile);
    const Key caKey = readKey(ca.keyFile);
    Key key = newKey();
    Certificate certificate = newCertificate(name, key.get(), serial_++, validFrom, validUntil);
    X509_set_issuer_name(certificate.get(), X509_get_subject_name(caCertificate.get()));
    addExtension(certificate.get(), caCertificate.get(), NID_basic_constraints, "CA:FALSE");
    addExtension(certificate.get(), caCertificate.get(), NID_key_usage,
                 "critical,digitalSignature,keyAgreement");
    addExtension(certificate.get(), caCertificate.get(), NID_ext_key_usage,
                 "serverAuth,clientAuth");
    addExtension(certificate.get(), caCertificate.get(), NID_authority_key_identifier,
                 "keyid:always");
    if (!altNames.empty()) {
        std::string names;
        for (const auto& altName : altNames) {
            names += (names.empty() ? "" : ",") + altName;
        }
        addExtension(certificate.get(), caCertificate.get(), NID_subject_alt_name, names);
    }
    if (X509_sign(certificate.get(), caKey.get(), EVP_sha256()) == 0) {
        fail("signing " + name);
    }
    return write(folder_ + "/" + name, certificate.get(), key.get());
}

}  // namespace parley::testing
