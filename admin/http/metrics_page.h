#pragma once
// The page GET /metrics serves: pgvalve's metrics in Prometheus's text
// format, read at scrape time from what SHOW STATS and SHOW CLIENTS read
// (the session registry), so there is no second bookkeeping and nothing is
// added to the relay's path.

#include <cstddef>
#include <string>

#include "admin/http/process_stats.h"
#include "proxy/proxy_events.h"
#include "proxy/session_registry.h"

namespace pgvalve::admin {

struct MetricsSources {
  const proxy::SessionRegistry& sessions;
  const proxy::ProxyEvents& events;
  size_t worker_threads = 0;
};

std::string RenderMetrics(const MetricsSources& sources, const ProcessStats& process);

}  // namespace pgvalve::admin
