// One gdb connection's conversation: requests in, replies out, against a Target. All-stop: the
// machine is stopped whenever gdb may send a request, and runs between a resume and the stop
// reply. Pure logic (the server does the socket); tests drive it with a fake Target.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gdb/command.h"
#include "gdb/target.h"

namespace hvk::gdb {

// The largest packet hvk accepts and says it accepts (qSupported PacketSize).
inline constexpr std::size_t kPacketSize = 0x4000;

class Session {
 public:
  // `send` takes one reply's payload (the server frames it).
  Session(Target& target, std::function<void(std::string_view)> send)
      : target_(target), send_(std::move(send)) {}

  // gdb connected: stop the machine, as gdb expects of a target it attaches to.
  void attach();
  void on_packet(std::string_view payload);
  void on_interrupt();                 // 0x03 from gdb
  void on_event(const StopEvent& ev);  // the target stopped (while running)
  void on_disconnect();                // gdb went away without detaching

  bool running() const { return running_; }
  bool acks() const { return acks_; }
  bool done() const { return done_; }

 private:
  void reply(std::string_view payload) { send_(payload); }
  void handle(const Command& c);
  void resume(std::optional<std::uint64_t> step);
  // The thread requests apply to: the one 'Hg' chose, else the last stop's, else the first.
  std::uint64_t current_thread();
  bool thread_exists(std::uint64_t thread);
  std::string stop_reply(const StopEvent& ev);
  std::string breakpoint(const cmd::Breakpoint& b);
  std::string monitor(std::string_view command);

  // A watchpoint or hardware breakpoint as gdb asked for it, and the debug registers it took.
  struct Watch {
    int type = 1;  // Z1..Z4
    std::uint64_t address = 0;
    std::uint64_t length = 0;
    std::vector<int> slots;
  };

  Target& target_;
  std::function<void(std::string_view)> send_;
  bool running_ = false;
  bool acks_ = true;
  bool done_ = false;
  std::uint64_t g_thread_ = 0;  // 0: not chosen
  std::uint64_t c_thread_ = 0;
  std::optional<StopEvent> last_stop_;
  std::vector<Watch> watches_;
  HwBreakpoints hw_{};
  std::vector<std::uint64_t> thread_list_;  // qfThreadInfo's answer, sent in qsThreadInfo parts
  std::size_t thread_list_next_ = 0;
};

}  // namespace hvk::gdb
