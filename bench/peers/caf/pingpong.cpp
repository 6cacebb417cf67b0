// pingpong (DESIGN.md §5), CAF 0.17 peer.
//
// P pairs; in each pair a pinger sends `ping` with an S-byte payload and the
// ponger answers `pong` with the same payload, R times, one round trip in
// flight per pair. Reports messages/s (2 per round trip) and the round-trip
// latency percentiles measured by the pinger (time from one pong to the next
// = send ping, ponger runs, pong comes back).
//
// --mode request: each ping is a request (`request(...).then(...)`, the
// continuation runs on the pinger) and each pong is its response; the ponger
// is unchanged. Runs in one process, like local; op=request in the result.
//
// Distributed: the pongers live in a second process (forked, or --role
// server) and are spawned there on request through a published factory; the
// pingers stay here.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

struct pinger_state {
  bool request = false; // request/response instead of send
  actor ponger;
  actor done_to;
  std::string payload;
  int64_t remaining = 0;
  uint32_t* lat = nullptr; // this pair's slice of the sample array
  clk::time_point last;
};

// The pinger's step on a pong (a message, or a response to its request).
void on_pong(stateful_actor<pinger_state>* self, const std::string& echoed);

void send_ping(stateful_actor<pinger_state>* self) {
  auto& s = self->state;
  if (s.request)
    self->request(s.ponger, infinite, ping_atom::value, s.payload)
      .then([=](pong_atom, const std::string& echoed) { on_pong(self, echoed); });
  else
    self->send(s.ponger, ping_atom::value, s.payload);
}

void on_pong(stateful_actor<pinger_state>* self, const std::string& echoed) {
  auto& s = self->state;
  auto now = clk::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - s.last).count();
  *s.lat++ = static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX));
  s.last = now;
  if (echoed.size() != s.payload.size())
    die("pingpong: payload size mismatch");
  if (--s.remaining > 0) {
    send_ping(self);
  } else {
    self->send(s.done_to, done_atom::value);
    self->quit();
  }
}

behavior pinger(stateful_actor<pinger_state>* self, actor ponger, actor done_to,
                std::string payload, int64_t rounds, uint32_t* lat, bool request) {
  auto& s = self->state;
  s.request = request;
  s.ponger = std::move(ponger);
  s.done_to = std::move(done_to);
  s.payload = std::move(payload);
  s.remaining = rounds;
  s.lat = lat;
  return {
    [=](start_atom) {
      self->state.last = clk::now();
      send_ping(self);
    },
    // Send mode: the pong arrives as an ordinary message.
    [=](pong_atom, const std::string& echoed) { on_pong(self, echoed); },
  };
}

// CAF turns a handler's return value into a response to the current sender:
// an ordinary message after a send, the response to a request.
behavior ponger(event_based_actor*) {
  return {
    [](ping_atom, const std::string& payload) {
      return std::make_tuple(pong_atom::value, payload);
    },
  };
}

// Server-side factory: spawns pongers on request, forwards quit to `main_`.
behavior factory(event_based_actor* self, actor main_) {
  return {
    [=](spawn_atom) -> actor { return self->spawn(ponger); },
    [=](quit_atom) { self->send(main_, quit_atom::value); },
  };
}

struct params {
  int64_t pairs, rounds, size, workers;
  std::string mode;
  bool request;
};

// Runs the measured part against the given pongers and prints the result.
int drive(actor_system& sys, scoped_actor& self, const params& p,
          const std::vector<actor>& pongers) {
  std::vector<uint32_t> lat(static_cast<size_t>(p.pairs * p.rounds)); // pre-touched
  std::string payload(static_cast<size_t>(p.size), 'x');
  std::vector<actor> pingers;
  for (int64_t i = 0; i < p.pairs; ++i)
    pingers.push_back(sys.spawn(pinger, pongers[i], actor_cast<actor>(self),
                                payload, p.rounds, lat.data() + i * p.rounds,
                                p.request));
  auto t0 = clk::now();
  for (auto& a : pingers)
    self->send(a, start_atom::value);
  for (int64_t i = 0; i < p.pairs; ++i)
    self->receive([](done_atom) {});
  double wall = seconds_since(t0);

  std::sort(lat.begin(), lat.end());
  if (lat.size() != static_cast<size_t>(p.pairs * p.rounds) || lat.front() == 0)
    die("pingpong: missing latency samples");
  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("pingpong"))
    .kv("system", std::string("caf"))
    .kv("mode", p.mode)
    .kv("op", std::string(p.request ? "request" : "send"))
    .kv("pairs", p.pairs)
    .kv("rounds", p.rounds)
    .kv("size", p.size)
    .kv("workers", p.workers)
    .kv("sched", std::string("work_stealing"))
    .kv("wall_s", wall)
    .kv("msgs_per_s", 2.0 * p.pairs * p.rounds / wall, "%.0f")
    .kv("p50_us", pct_us(lat, 50), "%.3f")
    .kv("p99_us", pct_us(lat, 99), "%.3f")
    .kv("p999_us", pct_us(lat, 99.9), "%.3f")
    .kv("max_us", lat.back() / 1000.0, "%.3f")
    .print();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("pairs", "1", "ping/pong pairs P");
  o.def("rounds", "100000", "round trips per pair R");
  o.def("size", "0", "payload bytes S");
  o.help["mode"] = "local | request (local, request/response) | distributed";
  o.parse(argc, argv, "pingpong [--pairs P] [--rounds R] [--size S] "
                      "[--workers W] [--mode local|request|distributed]");
  // request: local, with request/response instead of send (see the top).
  bool request = o.str("mode") == "request";
  if (request)
    o.v["mode"] = "local";
  params p{o.num("pairs"), o.num("rounds"), o.num("size"), o.num("workers"),
           o.str("mode"), request};
  if (p.pairs < 1 || p.rounds < 1 || p.workers < 1)
    die("pairs, rounds and workers must be >= 1");

  auto local = [&] {
    system_config cfg{p.workers, false};
    actor_system sys{cfg};
    scoped_actor self{sys};
    std::vector<actor> pongers;
    for (int64_t i = 0; i < p.pairs; ++i)
      pongers.push_back(sys.spawn(ponger));
    int rc = drive(sys, self, p, pongers);
    for (auto& a : pongers)
      anon_send_exit(a, exit_reason::user_shutdown);
    return rc;
  };
  auto server = [&](uint16_t port, int notify_fd) {
    system_config cfg{p.workers, true};
    actor_system sys{cfg};
    scoped_actor self{sys};
    auto f = sys.spawn(factory, actor_cast<actor>(self));
    int rc = serve(sys, self, f, port, notify_fd, o.num("timeout"));
    // Measurement is over: skip CAF's orderly shutdown (remote proxies can
    // keep it waiting) and leave.
    std::fflush(nullptr);
    _exit(rc);
    return rc;
  };
  auto client = [&](const std::string& host, uint16_t port) {
    system_config cfg{p.workers, true};
    actor_system sys{cfg};
    scoped_actor self{sys};
    auto f = sys.middleman().remote_actor(host, port);
    if (!f)
      die("client: cannot reach server: %s", sys.render(f.error()));
    std::vector<actor> pongers;
    for (int64_t i = 0; i < p.pairs; ++i)
      self->request(*f, std::chrono::seconds(30), spawn_atom::value)
        .receive([&](actor& a) { pongers.push_back(std::move(a)); },
                 [&](error& e) { die("client: spawn failed: %s", sys.render(e)); });
    int rc = drive(sys, self, p, pongers);
    self->send(*f, quit_atom::value);
    std::fflush(nullptr);
    usleep(100000); // let the quit leave before we drop the connection
    return rc;
  };
  return run_modes(o, local, server, client);
}
