#include "admin/http/metrics_text.h"

#include <cmath>

#include "fmt/format.h"

namespace pgvalve::admin {
namespace {

// Backslash and line feed as the format escapes them, and the double quote
// too where the text is quoted (label values, not HELP).
std::string Escape(std::string_view text, bool quoted) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else if (c == '"' && quoted) {
      escaped += "\\\"";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) { return Escape(value, /*quoted=*/true); }

std::string EscapeHelp(std::string_view help) { return Escape(help, /*quoted=*/false); }

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

void MetricsText::Family(std::string_view name, MetricType type, std::string_view help) {
  fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name,
                 type == MetricType::kCounter ? "counter" : type == MetricType::kGauge ? "gauge" : "histogram");
}

void MetricsText::SampleStart(std::string_view name, std::initializer_list<MetricLabel> labels) {
  text_ += name;
  if (labels.size() == 0) return;
  char separator = '{';
  for (const MetricLabel& label : labels) {
    text_ += separator;
    text_ += label.name;
    text_ += "=\"";
    text_ += EscapeLabelValue(label.value);
    text_ += '"';
    separator = ',';
  }
  text_ += '}';
}

void MetricsText::Sample(std::string_view name, std::initializer_list<MetricLabel> labels, double value) {
  SampleStart(name, labels);
  text_ += ' ';
  text_ += FormatSampleValue(value);
  text_ += '\n';
}

void MetricsText::Sample(std::string_view name, std::initializer_list<MetricLabel> labels, uint64_t value) {
  SampleStart(name, labels);
  fmt::format_to(std::back_inserter(text_), " {}\n", value);
}

}  // namespace pgvalve::admin
