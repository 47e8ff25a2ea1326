// Adapter-sized blobs between two processes on this machine: a plain TCP
// socket copy of the bytes against fedq's path (a CAF message, straight and
// through fedq's relays, plain and with TLS), measured in one run and
// printed as throughput ratios to the socket. Each time is one blob sent and
// a small answer back once the receiver holds all of it (the median of the
// repeats, after one warm-up).
// Usage: bench_transport [MB,MB,...] [REPEATS]   (default 1,10,100 and 5)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/messages.hpp"
#include "net/protocol.hpp"
#include "net/relay.hpp"

namespace {

using steady = std::chrono::steady_clock;
using blob = fedq::actors::blob;
const std::string token = "bench-token-0123456789abcdef";

int listen_any(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::listen(fd, 4);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool io_all(int fd, char* p, size_t n, bool write) {
  while (n > 0) {
    auto r = write ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (r <= 0)
      return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Runs `receiver(port_out)` here and `sender(port)` in a child process;
/// the sender writes its seconds per blob, one per line, to the pipe.
std::vector<double> two_processes(const std::function<void(int port_fd)>& receiver,
                                  const std::function<std::vector<double>(uint16_t)>& sender) {
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0)
    std::abort();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    uint16_t port = 0;
    if (::read(to_child[0], &port, sizeof port) != sizeof port)
      std::_Exit(2);
    std::ostringstream out;
    for (double s : sender(port))
      out << s << "\n";
    auto text = out.str();
    for (size_t at = 0; at < text.size();) { // a pipe: write(), not send()
      auto r = ::write(from_child[1], text.data() + at, text.size() - at);
      if (r <= 0)
        break;
      at += size_t(r);
    }
    ::close(from_child[1]);
    std::_Exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  receiver(to_child[1]);
  std::string text;
  char buf[256];
  for (ssize_t r; (r = ::read(from_child[0], buf, sizeof buf)) > 0;)
    text.append(buf, size_t(r));
  ::close(from_child[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    std::cerr << "bench_transport: the sending process ended with status " << status << "\n";
  std::vector<double> out;
  std::istringstream in(text);
  for (double s; in >> s;)
    out.push_back(s);
  return out;
}

void send_port(int fd, uint16_t port) {
  if (::write(fd, &port, sizeof port) != sizeof port)
    std::abort();
  ::close(fd);
}

/// The plain socket: [u64 length][bytes] -> one byte back.
std::vector<double> socket_path(size_t bytes, int reps) {
  return two_processes(
    [&](int port_fd) {
      uint16_t port = 0;
      int l = listen_any(port);
      send_port(port_fd, port);
      int fd = ::accept(l, nullptr, nullptr);
      std::vector<char> buf;
      for (int k = 0; k <= reps; ++k) {
        uint64_t n = 0;
        if (!io_all(fd, reinterpret_cast<char*>(&n), 8, false))
          break;
        buf.resize(n);
        io_all(fd, buf.data(), n, false);
        char ack = 1;
        io_all(fd, &ack, 1, true);
      }
      ::close(fd);
      ::close(l);
    },
    [&](uint16_t port) {
      int fd = dial(port);
      std::vector<char> data(bytes, 'x');
      std::vector<double> times;
      for (int k = 0; k <= reps; ++k) {
        auto t0 = steady::now();
        uint64_t n = bytes;
        char ack;
        io_all(fd, reinterpret_cast<char*>(&n), 8, true);
        io_all(fd, data.data(), bytes, true);
        io_all(fd, &ack, 1, false);
        if (k > 0) // the first is a warm-up
          times.push_back(std::chrono::duration<double>(steady::now() - t0).count());
      }
      ::close(fd);
      return times;
    });
}

void configure(caf::actor_system_config& cfg) {
  fedq::net::configure_network(cfg);
  fedq::actors::register_types(cfg);
}

/// A CAF message: a request with the blob, answered with its size.
/// relayed: through fedq's server and worker relays (tls: with TLS).
std::vector<double> caf_path(size_t bytes, int reps, bool relayed, const fedq::net::tls_files& server_tls,
                             const fedq::net::tls_files& worker_tls) {
  return two_processes(
    [&](int port_fd) {
      caf::actor_system_config cfg;
      configure(cfg);
      caf::actor_system sys{cfg};
      auto sink = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
        return {[=](const blob& b) -> uint64_t {
                  return b.size();
                },
                [=](caf::exit_msg&) { self->quit(); }};
      });
      auto port = sys.middleman().publish(sink, 0, "127.0.0.1", true);
      std::unique_ptr<fedq::net::server_relay> relay;
      if (relayed)
        relay = std::make_unique<fedq::net::server_relay>(fedq::net::endpoint{"127.0.0.1", 0}, token,
                                                          *port, bytes + (1 << 20), nullptr, nullptr,
                                                          server_tls);
      send_port(port_fd, relayed ? relay->port() : *port);
      // serve until the sender's process has exited (reaped here; its times wait in the pipe)
      while (::waitpid(-1, nullptr, WNOHANG) == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    },
    [&](uint16_t port) {
      caf::actor_system_config cfg;
      configure(cfg);
      caf::actor_system sys{cfg};
      std::unique_ptr<fedq::net::worker_relay> relay;
      uint16_t target = port;
      if (relayed) {
        relay = std::make_unique<fedq::net::worker_relay>(fedq::net::endpoint{"127.0.0.1", port}, token,
                                                          worker_tls);
        target = relay->port();
      }
      auto sink = sys.middleman().remote_actor("127.0.0.1", target);
      std::vector<double> times;
      if (!sink) {
        std::cerr << "bench_transport: " << sys.render(sink.error()) << "\n";
        return times;
      }
      caf::scoped_actor self{sys};
      blob data(bytes, 'x');
      for (int k = 0; k <= reps; ++k) {
        auto t0 = steady::now();
        self->request(*sink, std::chrono::minutes(5), data)
          .receive([&](uint64_t n) {
                     if (n != bytes)
                       std::cerr << "bench_transport: " << n << " bytes arrived of " << bytes << "\n";
                   },
                   [&](caf::error& e) { std::cerr << "bench_transport: " << sys.render(e) << "\n"; });
        if (k > 0)
          times.push_back(std::chrono::duration<double>(steady::now() - t0).count());
      }
      return times;
    });
}

/// A CA and certificates for 127.0.0.1 in a temporary folder (the openssl commands of the README).
fedq::net::tls_files make_certs(const std::filesystem::path& dir, bool server) {
  auto d = dir.string();
  auto run = [](const std::string& c) {
    if (std::system((c + " 2>/dev/null >/dev/null").c_str()) != 0) {
      std::cerr << "bench_transport: failed: " << c << "\n";
      std::exit(1);
    }
  };
  if (!std::filesystem::exists(dir / "ca.pem")) {
    std::filesystem::create_directories(dir);
    run("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/ca.key -out " + d +
        "/ca.pem -days 1 -subj /CN=bench-ca");
    for (std::string who : {"server", "worker"}) {
      run("openssl req -newkey rsa:2048 -nodes -keyout " + d + "/" + who + ".key -out " + d + "/" + who +
          ".csr -subj /CN=" + who);
      std::ofstream(dir / "ext") << "subjectAltName=IP:127.0.0.1\n";
      run("openssl x509 -req -in " + d + "/" + who + ".csr -CA " + d + "/ca.pem -CAkey " + d +
          "/ca.key -CAcreateserial -out " + d + "/" + who + ".pem -days 1 -extfile " + d + "/ext");
    }
  }
  std::string who = server ? "server" : "worker";
  return {d + "/" + who + ".pem", d + "/" + who + ".key", d + "/ca.pem"};
}

} // namespace

int main(int argc, char** argv) {
  std::vector<double> sizes_mb{1, 10, 100};
  int reps = 5;
  if (argc > 1) {
    sizes_mb.clear();
    std::stringstream ss(argv[1]);
    for (std::string s; std::getline(ss, s, ',');)
      sizes_mb.push_back(std::stod(s));
  }
  if (argc > 2)
    reps = std::max(1, std::atoi(argv[2]));
  auto certs = std::filesystem::temp_directory_path() / ("fedq-bench-certs-" + std::to_string(::getpid()));
  auto server_tls = make_certs(certs, true), worker_tls = make_certs(certs, false);
  std::cout << "| blob | socket (MB/s) | CAF (MB/s) | CAF, relays (MB/s) | CAF, relays + TLS (MB/s) | "
               "CAF / socket | relays / socket | TLS / socket |\n"
            << "|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (double mb : sizes_mb) {
    auto bytes = static_cast<size_t>(mb * 1e6);
    auto rate = [&](const std::vector<double>& t) { return t.empty() ? 0.0 : mb / median(t); };
    double sock = rate(socket_path(bytes, reps));
    double caf = rate(caf_path(bytes, reps, false, {}, {}));
    double relay = rate(caf_path(bytes, reps, true, {}, {}));
    double tls = rate(caf_path(bytes, reps, true, server_tls, worker_tls));
    std::printf("| %g MB | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", mb, sock, caf, relay, tls,
                caf / sock, relay / sock, tls / sock);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(certs);
  return 0;
}
