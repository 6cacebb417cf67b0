// Shared helpers for the CAF peer benchmarks: flag parsing, clocks, latency
// percentiles, the `result key=value` line, the CAF system config, and the
// fork-a-server helper used by the distributed modes.
//
// These programs are the CAF side of libactor's benchmark comparison
// (DESIGN.md §5). They must measure what a competent CAF user would write:
// idiomatic CAF 0.17 (stateful event-based actors, atoms, default
// work-stealing scheduler), with only the worker count set.
#pragma once

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using sort_atom = caf::atom_constant<caf::atom("sort")>;

using clk = std::chrono::steady_clock;

inline double seconds_since(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

[[noreturn]] inline void die(const char* fmt, const std::string& arg = "") {
  std::fprintf(stderr, fmt, arg.c_str());
  std::fputc('\n', stderr);
  std::exit(2);
}

// --flag value options. Every known flag has a default; unknown flags fail.
struct options {
  std::map<std::string, std::string> v;
  std::map<std::string, std::string> help;

  void def(const std::string& k, const std::string& dflt, const std::string& h) {
    v[k] = dflt;
    help[k] = h;
  }
  void parse(int argc, char** argv, const char* usage) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::printf("usage: %s\n\n", usage);
        for (auto& kv : help)
          std::printf("  --%-10s %s (default: %s)\n", kv.first.c_str(),
                      kv.second.c_str(),
                      v[kv.first].empty() ? "\"\"" : v[kv.first].c_str());
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0 || v.count(a.substr(2)) == 0)
        die("unknown option %s (try --help)", a);
      if (i + 1 >= argc)
        die("option %s needs a value", a);
      v[a.substr(2)] = argv[++i];
    }
  }
  const std::string& str(const std::string& k) { return v.at(k); }
  int64_t num(const std::string& k) {
    char* end = nullptr;
    long long x = std::strtoll(v.at(k).c_str(), &end, 10);
    if (end == v.at(k).c_str() || *end != '\0' || x < 0)
      die("--%s needs a non-negative integer", k);
    return x;
  }
};

// Adds the flags every benchmark shares, with the defaults the runner assumes.
inline void common_flags(options& o) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  o.def("workers", std::to_string(n > 0 ? n : 1), "scheduler threads");
  o.def("mode", "local", "local | distributed");
  o.def("role", "", "distributed only: server | client (empty: fork both)");
  o.def("host", "127.0.0.1", "distributed client: server address");
  o.def("port", "0", "distributed: TCP port (server 0 = any)");
  o.def("timeout", "600", "watchdog: abort after this many seconds");
}

// Peak resident set size of this process in KiB (getrusage's ru_maxrss).
inline long max_rss_kb() {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

// Current resident set size in KiB (/proc/self/statm), -1 if unknown.
inline long rss_kb() {
  long pages = -1;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%*s %ld", &pages) != 1)
      pages = -1;
    std::fclose(f);
  }
  return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

// The result line: a fixed prefix, then keys in the order given; print()
// adds max_rss_kb last.
struct result_line {
  std::string s = "result";
  result_line& kv(const char* k, const std::string& val) {
    s += ' ';
    s += k;
    s += '=';
    s += val;
    return *this;
  }
  result_line& kv(const char* k, int64_t x) { return kv(k, std::to_string(x)); }
  result_line& kv(const char* k, double x, const char* fmt = "%.6g") {
    char b[64];
    std::snprintf(b, sizeof b, fmt, x);
    return kv(k, std::string(b));
  }
  void print() {
    kv("max_rss_kb", static_cast<int64_t>(max_rss_kb()));
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  }
};

// Nearest-rank percentile of sorted nanosecond samples, in microseconds.
inline double pct_us(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * sorted.size() + 0.999999);
  rank = std::min(std::max<size_t>(rank, 1), sorted.size());
  return sorted[rank - 1] / 1000.0;
}

// CAF config: default work-stealing scheduler, worker count from --workers,
// and the io middleman when the benchmark runs distributed.
struct system_config : caf::actor_system_config {
  system_config(int64_t workers, bool with_io) {
    set("scheduler.max-threads", static_cast<size_t>(workers));
    if (with_io)
      load<caf::io::middleman>();
  }
};

// Human line naming the scheduler configuration that actually ran.
inline std::string sched_desc(caf::actor_system& sys) {
  auto& sch = sys.scheduler();
  return "sched=work_stealing workers=" + std::to_string(sch.num_workers()) +
         " max_throughput=" +
         (sch.max_throughput() == std::numeric_limits<size_t>::max()
            ? std::string("unlimited")
            : std::to_string(sch.max_throughput()));
}

// ---- distributed mode plumbing -------------------------------------------

// Server side: publish `factory` on 127.0.0.1:port, tell the parent (if any)
// the port through `notify_fd`, then block until the factory forwards a quit
// (sent by the client when it is done) or the timeout expires.
inline int serve(caf::actor_system& sys, caf::scoped_actor& self,
                 const caf::actor& factory, uint16_t port, int notify_fd,
                 int64_t timeout_s) {
  auto p = sys.middleman().publish(factory, port, "127.0.0.1", true);
  if (!p) {
    std::fprintf(stderr, "server: publish failed: %s\n",
                 sys.render(p.error()).c_str());
    return 1;
  }
  std::fprintf(stderr, "server: listening on 127.0.0.1:%u\n", *p);
  if (notify_fd >= 0) {
    uint16_t bound = *p;
    if (write(notify_fd, &bound, sizeof bound) != sizeof bound)
      return 1;
    close(notify_fd);
  }
  int rc = 1;
  self->receive([&](quit_atom) { rc = 0; },
                caf::after(std::chrono::seconds(timeout_s)) >>
                  [&] { std::fprintf(stderr, "server: timed out\n"); });
  return rc;
}

// Runs `server(port, fd)` in a forked child bound to 127.0.0.1 and `client(port)`
// here. Forking happens before any CAF state exists in this process.
template <class Server, class Client>
int fork_pair(Server server, Client client, int64_t timeout_s) {
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe failed");
  pid_t pid = fork();
  if (pid < 0)
    die("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the client
    close(fds[0]);
    int rc = server(uint16_t{0}, fds[1]);
    std::fflush(nullptr);
    _exit(rc);
  }
  close(fds[1]);
  struct pollfd pfd = {fds[0], POLLIN, 0};
  uint16_t port = 0;
  if (poll(&pfd, 1, 30000) != 1 || read(fds[0], &port, sizeof port) != sizeof port) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    die("server process did not start");
  }
  close(fds[0]);
  int rc = client(port);
  // The client told the server to quit; give it a few seconds, then insist.
  int status = 0;
  for (int i = 0; i < 100 * std::min<int64_t>(timeout_s, 10); ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return rc != 0 ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::fprintf(stderr, "server process did not exit; killed\n");
  return rc;
}

// Dispatches on --mode/--role. `server(port, notify_fd)` and `client(host,
// port)` return exit codes; `local()` runs the one-process version.
template <class Local, class Server, class Client>
int run_modes(options& o, Local local, Server server, Client client) {
  alarm(static_cast<unsigned>(o.num("timeout"))); // bounded, whatever happens
  const auto& mode = o.str("mode");
  if (mode == "local")
    return local();
  if (mode != "distributed")
    die("--mode must be local or distributed (pingpong also takes request)");
  auto port = static_cast<uint16_t>(o.num("port"));
  const auto& role = o.str("role");
  if (role == "server")
    return server(port, -1);
  if (role == "client")
    return client(o.str("host"), port);
  if (!role.empty())
    die("--role must be server or client");
  return fork_pair(server,
                   [&](uint16_t p) { return client(std::string("127.0.0.1"), p); },
                   o.num("timeout"));
}

} // namespace bench
