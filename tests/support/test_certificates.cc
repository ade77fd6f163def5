#include "tests/support/test_certificates.h"

#include <libpq-fe.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace pgvalve::test {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateFree {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertificatePtr = std::unique_ptr<X509, CertificateFree>;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what + " failed");
}

KeyPtr NewKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string CertificatePem(X509* certificate) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_X509(bio, certificate) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  return pem;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  Check(extension != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

CertificatePtr NewCertificate(const std::string& common_name, uint64_t serial, EVP_PKEY* key) {
  CertificatePtr certificate(X509_new());
  X509_set_version(certificate.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(certificate.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 7L * 24 * 3600);
  X509_set_pubkey(certificate.get(), key);
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  return certificate;
}

}  // namespace

struct TestCa::Keys {
  KeyPtr key;
  CertificatePtr certificate;
};

TestCa::TestCa(std::string name) : keys_(std::make_unique<Keys>()) {
  keys_->key = NewKey();
  keys_->certificate = NewCertificate(name, 1, keys_->key.get());
  X509* certificate = keys_->certificate.get();
  X509_set_issuer_name(certificate, X509_get_subject_name(certificate));
  AddExtension(certificate, certificate, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(certificate, certificate, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(certificate, certificate, NID_subject_key_identifier, "hash");
  Check(X509_sign(certificate, keys_->key.get(), EVP_sha256()) > 0, "X509_sign (CA)");
  certificate_pem_ = CertificatePem(certificate);
}

TestCa::~TestCa() = default;

TestCertificate TestCa::Issue(const Subject& subject) const {
  const uint64_t serial = subject.serial != 0 ? subject.serial : next_serial_++;
  KeyPtr key = NewKey();
  CertificatePtr certificate = NewCertificate(subject.common_name, serial, key.get());
  X509_set_issuer_name(certificate.get(), X509_get_subject_name(keys_->certificate.get()));
  std::string names;
  for (const std::string& dns : subject.dns_names) names += (names.empty() ? "DNS:" : ",DNS:") + dns;
  for (const std::string& ip : subject.ip_addresses) names += (names.empty() ? "IP:" : ",IP:") + ip;
  if (!names.empty()) AddExtension(certificate.get(), keys_->certificate.get(), NID_subject_alt_name, names);
  AddExtension(certificate.get(), keys_->certificate.get(), NID_basic_constraints, "CA:FALSE");
  AddExtension(certificate.get(), keys_->certificate.get(), NID_authority_key_identifier, "keyid");
  Check(X509_sign(certificate.get(), keys_->key.get(), EVP_sha256()) > 0, "X509_sign");
  return TestCertificate{CertificatePem(certificate.get()), KeyPem(key.get()), serial};
}

void WriteSecretFile(const std::string& path, const std::string& contents, unsigned mode, int owner_uid,
                     int owner_gid) {
  {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << contents;
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error("cannot chmod " + path);
  if (owner_uid >= 0 && ::chown(path.c_str(), owner_uid, owner_gid) != 0) {
    throw std::runtime_error("cannot chown " + path);
  }
}

uint64_t PeerCertificateSerial(const void* pgconn) {
  auto* ssl = static_cast<SSL*>(PQgetssl(const_cast<PGconn*>(static_cast<const PGconn*>(pgconn))));
  if (ssl == nullptr) return 0;
  X509* certificate = SSL_get0_peer_certificate(ssl);
  if (certificate == nullptr) return 0;
  uint64_t serial = 0;
  ASN1_INTEGER_get_uint64(&serial, X509_get0_serialNumber(certificate));
  return serial;
}

}  // namespace pgvalve::test
