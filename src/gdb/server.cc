#include "gdb/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "gdb/packet.h"
#include "gdb/session.h"

namespace hvk::gdb {

namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();  // strerror is not thread-safe
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

std::unique_ptr<Server> Server::listen(std::string_view where, std::string& why) {
  std::string_view host = "localhost";
  std::string_view port_text = where;
  if (auto colon = where.rfind(':'); colon != std::string_view::npos) {
    host = where.substr(0, colon);
    port_text = where.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    why = fmt::format("--gdb: '{}' is not [HOST:]PORT with PORT 0..65535", where);
    return nullptr;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const std::string host_str(host.empty() || host == "localhost" ? "127.0.0.1" : host);
  if (::inet_pton(AF_INET, host_str.c_str(), &addr.sin_addr) != 1) {
    why = fmt::format("--gdb: '{}' is not an IPv4 address or localhost", host);
    return nullptr;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = fmt::format("--gdb: socket: {}", errno_text(errno));
    return nullptr;
  }
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1) != 0) {
    why = fmt::format("--gdb: cannot listen on {}:{}: {}", host_str, port, errno_text(errno));
    ::close(fd);
    return nullptr;
  }
  socklen_t len = sizeof addr;
  (void)::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::array<int, 2> wake{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wake.data()) != 0) {
    why = fmt::format("--gdb: socketpair: {}", errno_text(errno));
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<Server>(
      new Server(fd, wake[0], wake[1], fmt::format("{}:{}", host_str, ntohs(addr.sin_port))));
}

Server::~Server() {
  finish(status_.load());
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

void Server::start(Target& target) {
  target_ = &target;
  thread_ = std::thread([this] { serve(); });
}

void Server::finish(int status) {
  status_.store(status);
  if (!finishing_.exchange(true)) (void)send_all(wake_write_, "x");
  if (thread_.joinable()) thread_.join();
}

void Server::serve() {
  for (;;) {
    std::array<pollfd, 2> fds{{{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (finishing_.load()) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    const int one = 1;
    (void)::setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const bool more = converse(conn);
    ::close(conn);
    if (!more) return;
  }
}

bool Server::converse(int fd) {
  PacketReader reader(kPacketSize);
  std::string last_sent;
  bool alive = true;
  Session session(*target_, [&](std::string_view payload) {
    last_sent = frame(payload);
    alive = alive && send_all(fd, last_sent);
  });
  session.attach();
  std::vector<PacketEvent> events;
  std::array<char, 4096> buf{};
  while (alive && !session.done()) {
    std::array<pollfd, 3> fds{
        {{fd, POLLIN, 0}, {target_->event_fd(), POLLIN, 0}, {wake_read_, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (finishing_.load()) {
      // The VM ended: a gdb waiting for a stop hears that it exited.
      if (session.running()) {
        StopEvent ev;
        ev.kind = StopEvent::Kind::kExited;
        ev.exit_status = status_.load();
        session.on_event(ev);
      }
      return false;
    }
    if (fds[1].revents & POLLIN) {
      while (auto ev = target_->take_event()) session.on_event(*ev);
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    events.clear();
    reader.feed({reinterpret_cast<const std::uint8_t*>(buf.data()), static_cast<std::size_t>(n)},
                events);
    for (const PacketEvent& e : events) {
      switch (e.kind) {
        case PacketEvent::Kind::kPacket:
          if (session.acks()) alive = alive && send_all(fd, "+");
          session.on_packet(e.payload);
          break;
        case PacketEvent::Kind::kInterrupt:
          session.on_interrupt();
          break;
        case PacketEvent::Kind::kNack:
          if (!last_sent.empty()) alive = alive && send_all(fd, last_sent);
          break;
        case PacketEvent::Kind::kBadChecksum:
          if (session.acks()) alive = alive && send_all(fd, "-");
          break;
        case PacketEvent::Kind::kOversized:
          if (session.acks()) alive = alive && send_all(fd, "+");
          last_sent = frame("E01");
          alive = alive && send_all(fd, last_sent);
          break;
        case PacketEvent::Kind::kAck:
          break;
      }
      if (session.done()) break;
    }
  }
  if (!session.done()) session.on_disconnect();
  return true;
}

}  // namespace hvk::gdb
