#include "machine/vmm.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "kvm/error.h"
#include "machine/machine.h"

namespace hvk::machine {

namespace {
// How long a timeout's report waits for each machine's VP threads to describe themselves.
constexpr std::chrono::milliseconds kDescribeWait{500};
}  // namespace

Vmm::Vmm(kvm::Kvm kvm, bool trace) : kvm_(std::move(kvm)), dispatcher_(hv_) {
  if (trace) dispatcher_.set_trace(&trace_);
  // A console nobody can read is a failed run (status 1), not a silent one.
  console_.on_write_error([this](int err) {
    end(1, fmt::format("cannot write the guest's console to stdout: {}", kvm::errno_text(err)));
  });
}

Vmm::~Vmm() {
  for (auto& m : machines_) m->stop();
  for (auto& m : machines_) m->join();
  console_.on_write_error(nullptr);  // the machines go next; end() must not be reached from them
}

void Vmm::add(std::unique_ptr<Machine> machine) {
  machines_.push_back(std::move(machine));
}

void Vmm::start() {
  for (auto& m : machines_) m->start_threads();
}

void Vmm::end(int status, const std::string& message) {
  {
    std::lock_guard lock(mu_);
    if (status_) return;
    status_ = status;
    explained_ = !message.empty();
  }
  if (!message.empty()) std::fprintf(stderr, "hvk: %s\n", message.c_str());
  for (auto& m : machines_) m->stop();
  cv_.notify_all();
}

int Vmm::wait(double timeout_seconds) {
  std::unique_lock lock(mu_);
  auto done = [this] { return status_.has_value(); };
  if (timeout_seconds > 0) {
    const auto limit = std::chrono::duration<double>(timeout_seconds);
    if (!cv_.wait_for(lock, limit, done)) {
      lock.unlock();
      // What each VP was doing, asked while the guest still runs: a hang leaves a trace.
      std::string message =
          fmt::format("timeout: the guest did not end within {} s; its VPs:", timeout_seconds);
      for (auto& m : machines_) {
        for (const std::string& line : m->describe_vps(kDescribeWait)) {
          message += fmt::format("\nhvk:   partition {} {}", m->partition().id(), line);
        }
      }
      end(kExitTimeout, message);
      lock.lock();
    }
  } else {
    cv_.wait(lock, done);
  }
  const int status = *status_;
  lock.unlock();
  for (auto& m : machines_) m->join();
  return status;
}

void Vmm::Trace::on_call(const hv::TraceRecord& r) noexcept {
  const char* name = r.call != nullptr ? tlfs::call_name(r.call->code) : "unknown call";
  const char* status = r.outcome.action == hv::Action::kInjectUd  ? "#UD"
                       : r.outcome.action == hv::Action::kSuspend ? "suspended"
                                                                  : tlfs::status_name(
                                                                        r.outcome.result.status());
  std::fprintf(stderr, "hvk trace: P%llu VP%u VTL%u %s (%#06x) %s -> %s reps=%u%s %.1f us\n",
               static_cast<unsigned long long>(r.partition->id()), r.vp, unsigned{r.vtl}, name,
               unsigned{r.control.code()}, r.input_text, status ? status : "?",
               unsigned{r.outcome.result.reps_completed()},
               r.outcome.action == hv::Action::kRetry     ? " (continues)"
               : r.outcome.action == hv::Action::kSuspend ? " (a target's TLB is locked)"
                                                          : "",
               static_cast<double>(r.elapsed_ns) / 1000.0);
}

}  // namespace hvk::machine
