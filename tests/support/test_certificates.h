#pragma once
// Certificates for TLS tests, made in memory with OpenSSL: a CA, and
// server or client certificates it signs. Keys are EC P-256, which takes
// microseconds to generate, so every test run makes its own.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgvalve::test {

struct TestCertificate {
  std::string certificate_pem;
  std::string key_pem;
  uint64_t serial = 0;
};

class TestCa {
 public:
  // A self-signed CA named `name`. Throws std::runtime_error on failure.
  explicit TestCa(std::string name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& certificate_pem() const { return certificate_pem_; }

  struct Subject {
    std::string common_name;
    // subjectAltName entries: host names and IP addresses.
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
    uint64_t serial = 0;  // 0: the next of this CA's
  };
  TestCertificate Issue(const Subject& subject) const;

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
  std::string certificate_pem_;
  mutable uint64_t next_serial_ = 100;
};

// Writes `contents` to `path` with `mode`, owned by `owner` when set (the
// postgres user: PostgreSQL refuses a key file it does not own or that
// others can read).
void WriteSecretFile(const std::string& path, const std::string& contents, unsigned mode,
                     int owner_uid = -1, int owner_gid = -1);

// The serial number of the certificate a libpq connection's server showed
// (PQgetssl), or 0 without TLS.
uint64_t PeerCertificateSerial(const void* pgconn);

}  // namespace pgvalve::test
