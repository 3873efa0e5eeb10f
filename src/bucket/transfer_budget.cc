#include "bucket/transfer_budget.h"

#include <cstdio>

namespace deltaswarm {

namespace {
double SecondsFor(const TransferBudget& budget, uint64_t bytes) {
  double s = std::chrono::duration<double>(budget.allowance).count();
  if (budget.min_bytes_per_s > 0) s += static_cast<double>(bytes) / static_cast<double>(budget.min_bytes_per_s);
  return s;
}
}  // namespace

SteadyClock::time_point TransferBudget::DeadlineFor(uint64_t bytes, SteadyClock::time_point from) const {
  return DeadlineAfter(SecondsFor(*this, bytes), from);  // clamped: a huge bound cannot overflow the clock
}

std::string DescribeDeadline(const TransferBudget& budget, uint64_t bytes) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "deadline passed (%.1f s for %llu bytes at >= %llu B/s)", SecondsFor(budget, bytes),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(budget.min_bytes_per_s));
  return buf;
}

}  // namespace deltaswarm
