// hvk run --gdb: a GDB remote protocol server on a TCP port, one connection at a time, on a
// thread of its own. It frames bytes (packet.h) and hands requests to a Session; a gdb that
// detaches or goes away leaves the guest running and the port open for the next one.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "gdb/target.h"

namespace hvk::gdb {

class Server {
 public:
  // Listens on "[HOST:]PORT" (HOST: an IPv4 address or "localhost", the default; PORT 0 picks a
  // free one). Call before the seccomp sandbox goes on. nullptr with `why` set on failure.
  static std::unique_ptr<Server> listen(std::string_view where, std::string& why);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "127.0.0.1:1234", as bound.
  const std::string& address() const { return address_; }
  // Serves gdb connections for `target` until finish().
  void start(Target& target);
  // The VM ended with `status`: a gdb waiting for the guest gets the exit ("W"), then the
  // connection closes and the thread ends. Joins it.
  void finish(int status);

 private:
  Server(int listen_fd, int wake_read, int wake_write, std::string address)
      : listen_fd_(listen_fd),
        wake_read_(wake_read),
        wake_write_(wake_write),
        address_(std::move(address)) {}
  void serve();
  // One connection; false once finish() was called.
  bool converse(int fd);

  int listen_fd_;
  int wake_read_;  // a socket pair: finish() writes a byte to wake the thread's poll
  int wake_write_;
  std::string address_;
  Target* target_ = nullptr;
  std::thread thread_;
  std::atomic<bool> finishing_{false};
  std::atomic<int> status_{0};
};

}  // namespace hvk::gdb
