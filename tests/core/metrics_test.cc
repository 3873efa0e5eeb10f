// The metrics registry's text exposition, byte for byte: counters, gauges,
// histograms, labels and their escaping.
#include <doctest/doctest.h>

#include <thread>

#include "deltaswarm/metrics.h"

using namespace deltaswarm;

TEST_CASE("counters and gauges render with HELP, TYPE and their series") {
  MetricsRegistry r;
  Counter bytes = r.AddCounter("x_bytes_total", "Bytes, by source");
  Gauge version = r.AddGauge("x_version", "The version");
  CHECK(r.Render() ==
        "# HELP x_bytes_total Bytes, by source\n# TYPE x_bytes_total counter\nx_bytes_total 0\n"
        "# HELP x_version The version\n# TYPE x_version gauge\nx_version 0\n");
  bytes.Add(0, {{"source", "swarm"}});
  bytes.Add(1234567, {{"source", "bucket"}});
  bytes.Add(1, {{"source", "bucket"}});
  version.Set(3);
  version.Set(2.5);
  CHECK(r.Render() ==
        "# HELP x_bytes_total Bytes, by source\n# TYPE x_bytes_total counter\n"
        "x_bytes_total{source=\"bucket\"} 1234568\nx_bytes_total{source=\"swarm\"} 0\n"
        "# HELP x_version The version\n# TYPE x_version gauge\nx_version 2.5\n");
  bytes.SetTotal(9, {{"source", "swarm"}});
  CHECK(r.Render().find("x_bytes_total{source=\"swarm\"} 9\n") != std::string::npos);
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count") {
  MetricsRegistry r;
  Histogram h = r.AddHistogram("x_seconds", "Durations", {0.5, 1, 10});
  h.Observe(0.25);
  h.Observe(0.5);  // le: the bound itself counts
  h.Observe(2);
  h.Observe(100);
  CHECK(r.Render() ==
        "# HELP x_seconds Durations\n# TYPE x_seconds histogram\n"
        "x_seconds_bucket{le=\"0.5\"} 2\nx_seconds_bucket{le=\"1\"} 2\nx_seconds_bucket{le=\"10\"} 3\n"
        "x_seconds_bucket{le=\"+Inf\"} 4\nx_seconds_sum 102.75\nx_seconds_count 4\n");
}

TEST_CASE("a labelled histogram puts le after its labels; an empty one shows zeros") {
  MetricsRegistry r;
  Histogram h = r.AddHistogram("y_seconds", "D", {1});
  CHECK(r.Render() ==
        "# HELP y_seconds D\n# TYPE y_seconds histogram\n"
        "y_seconds_bucket{le=\"1\"} 0\ny_seconds_bucket{le=\"+Inf\"} 0\ny_seconds_sum 0\ny_seconds_count 0\n");
  h.Observe(0.5, {{"kind", "delta"}});
  CHECK(r.Render() ==
        "# HELP y_seconds D\n# TYPE y_seconds histogram\n"
        "y_seconds_bucket{kind=\"delta\",le=\"1\"} 1\ny_seconds_bucket{kind=\"delta\",le=\"+Inf\"} 1\n"
        "y_seconds_sum{kind=\"delta\"} 0.5\ny_seconds_count{kind=\"delta\"} 1\n");
}

TEST_CASE("label values and help text are escaped") {
  MetricsRegistry r;
  Counter c = r.AddCounter("z_total", "a \\ b\nc \"q\"");
  c.Add(1, {{"kind", "back\\slash \"quoted\"\nnewline"}, {"b", "x"}});
  CHECK(r.Render() ==
        "# HELP z_total a \\\\ b\\nc \"q\"\n# TYPE z_total counter\n"
        "z_total{kind=\"back\\\\slash \\\"quoted\\\"\\nnewline\",b=\"x\"} 1\n");
  CHECK(EscapeMetricText("\"", true) == "\\\"");
  CHECK(EscapeMetricText("\"", false) == "\"");
}

TEST_CASE("duration buckets span 0.1 s to an hour, ascending") {
  std::vector<double> b = DurationBuckets();
  REQUIRE(b.size() >= 2);
  CHECK(b.front() == 0.1);
  CHECK(b.back() == 3600);
  for (size_t i = 1; i < b.size(); ++i) CHECK(b[i - 1] < b[i]);
}

TEST_CASE("updates from many threads all count") {
  MetricsRegistry r;
  Counter c = r.AddCounter("n_total", "N");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) c.Add(1);
    });
  for (auto& t : threads) t.join();
  CHECK(r.Render().find("\nn_total 4000\n") != std::string::npos);
}
