#include "deltaswarm/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

namespace deltaswarm {

namespace {

constexpr int kCounter = 0, kGauge = 1, kHistogram = 2;
const char* const kTypeNames[] = {"counter", "gauge", "histogram"};

// Integral values print as integers (byte counts stay readable); the rest
// in the shortest form that reads back exactly.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// {a="x",b="y"}, or "" without labels; extra (the histogram's le) goes last.
std::string LabelText(const MetricLabels& labels, const std::string& extra = "") {
  std::string s;
  for (const auto& [name, value] : labels) s += (s.empty() ? "" : ",") + name + "=\"" + EscapeMetricText(value, true) + "\"";
  if (!extra.empty()) s += (s.empty() ? "" : ",") + extra;
  return s.empty() ? "" : "{" + s + "}";
}

}  // namespace

std::vector<double> DurationBuckets() { return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}; }

std::string EscapeMetricText(const std::string& text, bool quote) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
  return out;
}

struct MetricsRegistry::Family {
  struct Series {
    MetricLabels labels;
    double value = 0;              // counter, gauge; a histogram's sum
    uint64_t count = 0;            // histogram
    std::vector<uint64_t> counts;  // histogram: per bound, not cumulative
  };
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<double> bounds;
  std::map<std::string, Series> series;  // by rendered labels: a stable order

  Series& At(const MetricLabels& labels) {
    auto [it, added] = series.try_emplace(LabelText(labels));
    if (added) {
      it->second.labels = labels;
      it->second.counts.assign(bounds.size(), 0);
    }
    return it->second;
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

size_t MetricsRegistry::AddFamily(const std::string& name, const std::string& help, int type,
                                  std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = std::make_unique<Family>();
  f->name = name;
  f->help = help;
  f->type = type;
  f->bounds = std::move(bounds);
  f->At({});  // shown at zero until a labelled series replaces it (below)
  families_.push_back(std::move(f));
  return families_.size() - 1;
}

Counter MetricsRegistry::AddCounter(const std::string& name, const std::string& help) {
  Counter c;
  c.registry_ = this;
  c.family_ = AddFamily(name, help, kCounter, {});
  return c;
}

Gauge MetricsRegistry::AddGauge(const std::string& name, const std::string& help) {
  Gauge g;
  g.registry_ = this;
  g.family_ = AddFamily(name, help, kGauge, {});
  return g;
}

Histogram MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                        std::vector<double> bounds) {
  Histogram h;
  h.registry_ = this;
  h.family_ = AddFamily(name, help, kHistogram, std::move(bounds));
  return h;
}

void MetricsRegistry::Update(size_t family, Op op, double value, const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = *families_[family];
  // A labelled family has no unlabelled series: mixing both would be two
  // kinds of series under one name.
  if (!labels.empty()) f.series.erase("");
  Family::Series& s = f.At(labels);
  switch (op) {
    case Op::kAdd:
      s.value += value;
      break;
    case Op::kSet:
      s.value = value;
      break;
    case Op::kObserve: {
      auto bound = std::lower_bound(f.bounds.begin(), f.bounds.end(), value);  // le: value <= bound
      if (bound != f.bounds.end()) ++s.counts[bound - f.bounds.begin()];
      ++s.count;
      s.value += value;
      break;
    }
  }
}

void Counter::Add(double by, const MetricLabels& labels) {
  registry_->Update(family_, MetricsRegistry::Op::kAdd, by, labels);
}
void Counter::SetTotal(double total, const MetricLabels& labels) {
  registry_->Update(family_, MetricsRegistry::Op::kSet, total, labels);
}
void Gauge::Set(double value, const MetricLabels& labels) {
  registry_->Update(family_, MetricsRegistry::Op::kSet, value, labels);
}
void Histogram::Observe(double value, const MetricLabels& labels) {
  registry_->Update(family_, MetricsRegistry::Op::kObserve, value, labels);
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f->name + " " + EscapeMetricText(f->help, false) + "\n";
    out += "# TYPE " + f->name + " " + kTypeNames[f->type] + "\n";
    for (const auto& [key, s] : f->series) {
      if (f->type != kHistogram) {
        out += f->name + key + " " + FormatValue(s.value) + "\n";
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f->bounds.size(); ++i) {
        cumulative += s.counts[i];
        out += f->name + "_bucket" + LabelText(s.labels, "le=\"" + FormatValue(f->bounds[i]) + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += f->name + "_bucket" + LabelText(s.labels, "le=\"+Inf\"") + " " + std::to_string(s.count) + "\n";
      out += f->name + "_sum" + key + " " + FormatValue(s.value) + "\n";
      out += f->name + "_count" + key + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

}  // namespace deltaswarm
