// The Prometheus metrics registry: lock-free metric updates, definition checks, and rendering
// in the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "core/error.h"

namespace hanlin::server {

namespace {

using LabelValues = std::vector<std::string>;

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integers up to 2^53 are exact in a double: print them as integers ("12", not "1.2e+01").
  constexpr double kMaxExactInteger = 9007199254740992.0;
  char buffer[64];
  std::to_chars_result result;
  if (v == std::trunc(v) && std::fabs(v) <= kMaxExactInteger) {
    result = std::to_chars(buffer, buffer + sizeof buffer, static_cast<int64_t>(v));
  } else {
    result = std::to_chars(buffer, buffer + sizeof buffer, v);  // shortest form that round-trips
  }
  return std::string(buffer, result.ptr);
}

std::string format_count(uint64_t n) {
  char buffer[24];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, n);
  return std::string(buffer, result.ptr);
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string escape(std::string_view text, bool escape_quote) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; the
// "__" prefix is reserved for Prometheus' own use.
bool is_valid_name(std::string_view name, bool allow_colon) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = is_letter(c) || c == '_' || (allow_colon && c == ':') || (i > 0 && is_digit(c));
    if (!ok) return false;
  }
  return true;
}

void check_upper_bounds(const std::vector<double>& upper_bounds, std::string_view name) {
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i])) {
      throw Error(ErrorKind::kInternal, "histogram '" + std::string(name) + "': bucket upper bound " +
                                            format_value(upper_bounds[i]) +
                                            " is not finite (the +Inf bucket is implicit)");
    }
    if (i > 0 && !(upper_bounds[i] > upper_bounds[i - 1])) {
      throw Error(ErrorKind::kInternal,
                  "histogram '" + std::string(name) + "': bucket upper bounds must increase strictly, but " +
                      format_value(upper_bounds[i]) + " follows " + format_value(upper_bounds[i - 1]));
    }
  }
}

// Validates what a family is defined by: its name, its label names and its buckets.
void check_new_family(MetricType type, std::string_view name, std::vector<std::string> label_names,
                      const std::vector<double>& upper_bounds) {
  require(
      is_valid_name(name, true), ErrorKind::kInternal,
      "metric name '" + std::string(name) + "' must match [a-zA-Z_:][a-zA-Z0-9_:]* and not start with __");
  std::sort(label_names.begin(), label_names.end());  // so duplicates sit side by side
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    require(is_valid_name(label, false), ErrorKind::kInternal,
            "metric '" + std::string(name) + "': label name '" + label +
                "' must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
    require(i == 0 || label != label_names[i - 1], ErrorKind::kInternal,
            "metric '" + std::string(name) + "': label '" + label + "' appears twice");
    require(type != MetricType::kHistogram || label != "le", ErrorKind::kInternal,
            "histogram '" + std::string(name) + "': the label name 'le' is reserved for buckets");
  }
  if (type == MetricType::kHistogram) check_upper_bounds(upper_bounds, name);
}

std::vector<std::string> label_names_of(const MetricLabels& labels) {
  std::vector<std::string> names;
  for (const auto& [name, value] : labels) names.push_back(name);
  return names;
}

LabelValues label_values_of(const MetricLabels& labels) {
  LabelValues values;
  for (const auto& [name, value] : labels) values.push_back(value);
  return values;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ",") + part;
  return "[" + out + "]";
}

// `{a="x",b="y"}`, with `extra` (the histogram's le="...") last; empty when there are no labels.
std::string format_labels(const std::vector<std::string>& names, const LabelValues& values,
                          std::string_view extra = {}) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (out.empty() ? "{" : ",") + names[i] + "=\"" + escape(values[i], true) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + std::string(extra);
  return out.empty() ? out : out + "}";
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
  out.append(name).append(labels).append(" ").append(value).append("\n");
}

// Creates the child for `values` on first use; std::map keeps nodes stable and sorted.
template <typename Metric, typename Make>
Metric& find_or_add_child(std::map<LabelValues, std::unique_ptr<Metric>>& children, LabelValues values,
                          Make make) {
  auto it = children.find(values);
  if (it == children.end()) it = children.emplace(std::move(values), make()).first;
  return *it->second;
}

}  // namespace

struct MetricsRegistry::Family {
  MetricType type;
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;  // histograms only
  // Only the map matching `type` is used.
  std::map<LabelValues, std::unique_ptr<Counter>> counters;
  std::map<LabelValues, std::unique_ptr<Gauge>> gauges;
  std::map<LabelValues, std::unique_ptr<Histogram>> histograms;

  // The names this family's samples carry, for detecting clashes between families.
  std::vector<std::string> sample_names() const {
    if (type != MetricType::kHistogram) return {name};
    return {name + "_bucket", name + "_sum", name + "_count"};
  }
};

namespace {

void render_header(std::string& out, const MetricsRegistry::Family& family) {
  out += "# HELP " + family.name + " " + escape(family.help, false) + "\n";
  out += "# TYPE " + family.name + " " + std::string(type_name(family.type)) + "\n";
}

template <typename Metric>
void render_values(std::string& out, const MetricsRegistry::Family& family,
                   const std::map<LabelValues, std::unique_ptr<Metric>>& children) {
  for (const auto& [values, child] : children) {
    append_sample(out, family.name, format_labels(family.label_names, values), format_value(child->value()));
  }
}

void render_histograms(std::string& out, const MetricsRegistry::Family& family) {
  for (const auto& [values, child] : family.histograms) {
    const HistogramSnapshot snapshot = child->snapshot();
    for (size_t i = 0; i <= family.upper_bounds.size(); ++i) {
      const std::string bound =
          i < family.upper_bounds.size() ? format_value(family.upper_bounds[i]) : "+Inf";
      append_sample(out, family.name + "_bucket",
                    format_labels(family.label_names, values, "le=\"" + bound + "\""),
                    format_count(snapshot.cumulative_counts[i]));
    }
    const std::string labels = format_labels(family.label_names, values);
    append_sample(out, family.name + "_sum", labels, format_value(snapshot.sum));
    append_sample(out, family.name + "_count", labels, format_count(snapshot.count));
  }
}

}  // namespace

// The hot paths test before building an error message: require() would build it every call.
void Counter::add(double v) {
  if (!(std::isfinite(v) && v >= 0)) {
    throw Error(ErrorKind::kInternal,
                "Counter::add(" + format_value(v) + "): a counter only goes up, by a finite amount");
  }
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::add(double v) {
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), bucket_counts_(upper_bounds_.size() + 1) {
  check_upper_bounds(upper_bounds_, "(unnamed)");
}

void Histogram::observe(double v) {
  if (std::isnan(v)) throw Error(ErrorKind::kInternal, "Histogram::observe(NaN)");
  // The first bound >= v: `le` is inclusive. Past the last bound is the +Inf bucket.
  const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) - upper_bounds_.begin();
  bucket_counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot snapshot;
  uint64_t running = 0;
  for (const std::atomic<uint64_t>& bucket_count : bucket_counts_) {
    running += bucket_count.load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  // Count comes from the same bucket reads, so the +Inf bucket and _count always agree.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> time_to_first_token_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}

std::vector<double> inter_token_latency_buckets() {
  return {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
          0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  const std::lock_guard lock(mutex_);
  Family& family = find_or_add_family(MetricType::kCounter, name, help, labels, {});
  return find_or_add_child(family.counters, label_values_of(labels),
                           [] { return std::make_unique<Counter>(); });
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  const std::lock_guard lock(mutex_);
  Family& family = find_or_add_family(MetricType::kGauge, name, help, labels, {});
  return find_or_add_child(family.gauges, label_values_of(labels), [] { return std::make_unique<Gauge>(); });
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const std::vector<double>& upper_bounds, const MetricLabels& labels) {
  const std::lock_guard lock(mutex_);
  Family& family = find_or_add_family(MetricType::kHistogram, name, help, labels, upper_bounds);
  return find_or_add_child(family.histograms, label_values_of(labels),
                           [&] { return std::make_unique<Histogram>(family.upper_bounds); });
}

MetricsRegistry::Family& MetricsRegistry::find_or_add_family(MetricType type, std::string_view name,
                                                             std::string_view help,
                                                             const MetricLabels& labels,
                                                             const std::vector<double>& upper_bounds) {
  std::vector<std::string> label_names = label_names_of(labels);
  for (const std::unique_ptr<Family>& family : families_) {
    if (family->name != name) continue;
    const bool same = family->type == type && family->help == help && family->label_names == label_names &&
                      family->upper_bounds == upper_bounds;
    if (!same) {
      throw Error(ErrorKind::kInternal,
                  "metric '" + std::string(name) + "' is already registered with another definition (type, " +
                      "help, label names or buckets): it was a " + std::string(type_name(family->type)) +
                      " labelled " + join(family->label_names) + ", now a " + std::string(type_name(type)) +
                      " labelled " + join(label_names));
    }
    return *family;
  }
  check_new_family(type, name, label_names, upper_bounds);
  auto family = std::make_unique<Family>(
      Family{type, std::string(name), std::string(help), std::move(label_names), upper_bounds, {}, {}, {}});
  check_no_sample_name_clash(*family);
  families_.push_back(std::move(family));
  return *families_.back();
}

// A histogram 'x' writes x_bucket, x_sum and x_count; a counter named 'x_sum' would collide.
void MetricsRegistry::check_no_sample_name_clash(const Family& candidate) const {
  for (const std::unique_ptr<Family>& family : families_) {
    for (const std::string& existing : family->sample_names()) {
      for (const std::string& added : candidate.sample_names()) {
        if (existing == added) {
          throw Error(ErrorKind::kInternal, "metric '" + candidate.name + "' would write samples named '" +
                                                added + "', as '" + family->name + "' already does");
        }
      }
    }
  }
}

std::string MetricsRegistry::render() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  for (const std::unique_ptr<Family>& family : families_) {
    render_header(out, *family);
    switch (family->type) {
      case MetricType::kCounter:
        render_values(out, *family, family->counters);
        break;
      case MetricType::kGauge:
        render_values(out, *family, family->gauges);
        break;
      case MetricType::kHistogram:
        render_histograms(out, *family);
        break;
    }
  }
  return out;
}

}  // namespace hanlin::server
