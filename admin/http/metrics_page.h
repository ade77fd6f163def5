#pragma once
// The page GET /metrics serves: pgvalve's metrics in Prometheus's text
// format, read at scrape time from what the SHOW commands read (the session
// registry, the database gates, the DRAIN and CUTOVER jobs), so there is no
// second bookkeeping and nothing is added to the relay's path. Control
// thread only, as the jobs and control connections it reads.

#include <cstddef>
#include <string>

#include "admin/http/process_stats.h"
#include "admin/jobs/cutover_registry.h"
#include "admin/jobs/drain_registry.h"
#include "admin/limits/limit_counters.h"
#include "proxy/database_registry.h"
#include "proxy/proxy_events.h"
#include "proxy/session_registry.h"
#include "upstream/control_connections.h"

namespace pgvalve::admin {

struct MetricsSources {
  const proxy::SessionRegistry& sessions;
  const proxy::ProxyEvents& events;
  size_t worker_threads = 0;
  // Each of these adds its families when given.
  const proxy::DatabaseRegistry* databases = nullptr;
  const upstream::ControlConnections* control = nullptr;
  const DrainRegistry* drains = nullptr;
  const CutoverRegistry* cutovers = nullptr;
  const LimitCounters* limit_counters = nullptr;
};

std::string RenderMetrics(const MetricsSources& sources, const ProcessStats& process);

}  // namespace pgvalve::admin
