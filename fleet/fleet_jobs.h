#pragma once
// The fleet's jobs, as etcd holds them: the lock that lets one DRAIN or
// CUTOVER of a database run at a time fleet-wide (a key under the lease of
// the instance running it, so it goes if that instance dies), a DRAIN
// announced for every other instance to run on its own sessions, and each
// instance's report of it. JSON documents; no I/O here.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pgvalve::fleet {

// The kinds of job, as their keys name them.
inline constexpr std::string_view kDrainJob = "drain";
inline constexpr std::string_view kCutoverJob = "cutover";

// Who holds a database's job lock, and for what.
struct JobLock {
  std::string instance;
  std::string job;  // "DRAIN 3 by admin (127.0.0.1:51234)"
};

// Who announced a job, whatever its kind: every announcement has these.
struct JobOrigin {
  std::string database;
  std::string instance;
  uint64_t job = 0;
};
absl::StatusOr<JobOrigin> DecodeJobOrigin(std::string_view json);

// A DRAIN one instance runs for the whole fleet.
struct FleetDrain {
  std::string database;
  std::string instance;  // the one that runs it
  uint64_t job = 0;      // its job id there
  int64_t grace_ms = 0;
  int64_t timeout_ms = 0;
  std::string escalation;  // as DRAIN ... THEN names it: "terminate", "cancel", "wait"
  std::vector<std::string> except_roles;
};

// What one instance's part of a fleet DRAIN came to.
struct FleetDrainReport {
  std::string instance;
  std::string phase;  // the drain job's phase at its end ("done", "timed out", ...)
  uint64_t sessions = 0;
  uint64_t left = 0;
  std::map<std::string, uint64_t> outcomes;  // how many sessions ended each way
  std::string error;                         // why it failed, when it did
};

// The hold of a CUTOVER one instance runs: every other instance brings its
// sessions of the database to a boundary and reports.
struct FleetCutover {
  std::string database;
  std::string instance;
  uint64_t job = 0;
  int64_t grace_ms = 0;
  int64_t timeout_ms = 0;
  std::string target;      // the upstream it moves to
  std::string escalation;  // its THEN: "TERMINATE" or "CANCEL"
};

struct FleetCutoverReport {
  std::string instance;
  bool held = false;    // every session of the database at a boundary
  uint64_t closed = 0;  // closed after GRACE, in a transaction
  std::string error;
};

std::string EncodeJobLock(const JobLock& lock);
absl::StatusOr<JobLock> DecodeJobLock(std::string_view json);
std::string EncodeDrain(const FleetDrain& drain);
absl::StatusOr<FleetDrain> DecodeDrain(std::string_view json);
std::string EncodeDrainReport(const FleetDrainReport& report);
absl::StatusOr<FleetDrainReport> DecodeDrainReport(std::string_view json);
std::string EncodeCutover(const FleetCutover& cutover);
absl::StatusOr<FleetCutover> DecodeCutover(std::string_view json);
std::string EncodeCutoverReport(const FleetCutoverReport& report);
absl::StatusOr<FleetCutoverReport> DecodeCutoverReport(std::string_view json);

// The backends one instance's sessions of a job's database have open, as
// it lists them when the job is announced: the instance running the job
// cannot tell them from direct connections in pg_stat_activity, and
// INCLUDING DIRECT must leave them to the instance they belong to.
struct FleetBackends {
  std::string instance;
  std::vector<int32_t> pids;
};
std::string EncodeBackends(const FleetBackends& backends);
absl::StatusOr<FleetBackends> DecodeBackends(std::string_view json);

// What an instance writes under a job's keys: its report at the end, and
// the list of its backends at the start.
enum class JobPart { kReport, kBackends };

// Keys under [fleet] key_prefix; a database's name is escaped so that a
// '/' in it cannot be taken for a separator.
std::string JobsPrefix(std::string_view key_prefix);
std::string JobLockKey(std::string_view key_prefix, std::string_view database);
// A job of kind `kind` ("drain", "cutover") on `database`: its announcement,
// each instance's report (or list of backends), and the prefix of all.
std::string JobKey(std::string_view key_prefix, std::string_view database, std::string_view kind);
std::string JobReportKey(std::string_view key_prefix, std::string_view database, std::string_view kind,
                         std::string_view instance, JobPart part = JobPart::kReport);
std::string JobKeysPrefix(std::string_view key_prefix, std::string_view database, std::string_view kind);

}  // namespace pgvalve::fleet
