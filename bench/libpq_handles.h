#pragma once
// libpq's connection and result as owning handles, for the benchmark
// drivers (which link libpq alone, not the test support).

#include <libpq-fe.h>

#include <memory>

namespace pgvalve::bench {

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using Result = std::unique_ptr<PGresult, ResultClearer>;

}  // namespace pgvalve::bench
