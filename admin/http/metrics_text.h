#pragma once
// Prometheus's text exposition format, version 0.0.4: each family's
// `# HELP` and `# TYPE` lines, then its samples, label values escaped.
// Text only; what is measured is the caller's (metrics_page.h).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace pgvalve::admin {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

class MetricsText {
 public:
  // Starts a family; its samples follow before the next one starts. `name`
  // is a valid metric name (a constant of ours, never input).
  void Family(std::string_view name, MetricType type, std::string_view help);
  void Sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value);
  void Sample(std::string_view name, std::initializer_list<MetricLabel> labels, uint64_t value);

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  void SampleStart(std::string_view name, std::initializer_list<MetricLabel> labels);

  std::string text_;
};

// A label value as the format quotes it: backslash, double quote and line
// feed escaped; anything else (any UTF-8) as it is.
std::string EscapeLabelValue(std::string_view value);
// HELP text: backslash and line feed escaped.
std::string EscapeHelp(std::string_view help);
// Go's float formatting as Prometheus reads it: +Inf, -Inf, NaN, else the
// shortest text that reads back as the same double.
std::string FormatSampleValue(double value);

}  // namespace pgvalve::admin
