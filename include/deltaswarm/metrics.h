// A small metrics registry: counters, gauges and histograms, each a family
// of series told apart by label values, rendered as Prometheus text
// exposition (format 0.0.4). Pure: no I/O, no clock; the roles feed it at
// event time (a pull, a failure), never per piece, and an HTTP endpoint
// (src/bucket/metrics_server.h) renders it per scrape. Thread-safe: every
// method may be called from any thread (one mutex per registry).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace deltaswarm {

// Label name and value pairs of one series, e.g. {{"source", "swarm"}}.
// Names are [a-zA-Z_][a-zA-Z0-9_]* (not "le"); values any UTF-8, escaped on rendering.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry;

// A handle to one family; it stays valid as long as its registry.
class Counter {
 public:
  void Add(double by, const MetricLabels& labels = {});  // by >= 0
  // For a total kept elsewhere that only grows (a swarm session's uploads).
  void SetTotal(double total, const MetricLabels& labels = {});

 private:
  friend class MetricsRegistry;
  MetricsRegistry* registry_ = nullptr;
  size_t family_ = 0;
};

class Gauge {
 public:
  void Set(double value, const MetricLabels& labels = {});

 private:
  friend class MetricsRegistry;
  MetricsRegistry* registry_ = nullptr;
  size_t family_ = 0;
};

class Histogram {
 public:
  void Observe(double value, const MetricLabels& labels = {});

 private:
  friend class MetricsRegistry;
  MetricsRegistry* registry_ = nullptr;
  size_t family_ = 0;
};

// Upper bounds for durations from 0.1 s to an hour.
std::vector<double> DurationBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Families render in the order added. A family without labels shows its
  // zero series from the start; a labelled one shows the series touched
  // (Add(0, labels) makes one show at 0). Names must be unique and valid
  // metric names; bounds ascending (+Inf is implied).
  Counter AddCounter(const std::string& name, const std::string& help);
  Gauge AddGauge(const std::string& name, const std::string& help);
  Histogram AddHistogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  // The text exposition: # HELP and # TYPE per family, then its series in
  // label order; each line ends in "\n".
  std::string Render() const;

 private:
  friend class Counter;
  friend class Gauge;
  friend class Histogram;
  struct Family;
  enum class Op { kAdd, kSet, kObserve };
  size_t AddFamily(const std::string& name, const std::string& help, int type, std::vector<double> bounds);
  void Update(size_t family, Op op, double value, const MetricLabels& labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// A label value (or help text, with quote=false) escaped for the text format:
// backslash, newline and (with quote) double quote.
std::string EscapeMetricText(const std::string& text, bool quote);

}  // namespace deltaswarm
