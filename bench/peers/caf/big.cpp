// big (bencherl's Big, DESIGN.md §5), CAF 0.17 peer.
//
// N actors, K rounds. In a round an actor pings every other actor and counts
// pongs; every ping is answered with a pong at once. When an actor has its
// N-1 pongs its round is over and it starts the next one straight away (no
// global barrier: a pong can only belong to its receiver's current round, so
// counting is exact). After K rounds it reports `done` to a coordinator.
// Messages = 2*N*(N-1)*K. Like the libactor port, pongs are counted rather
// than matched by selective receive in a fixed order (notes/runtimes.md §2.3).
//
// Distributed: actors [N/2, N) live in a second process, spawned there through
// a published factory; pings and pongs between the halves cross TCP.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

using go_atom = atom_constant<atom("go")>;

struct big_state {
  std::vector<actor> peers;
  actor coordinator;
  int32_t index = 0;
  int32_t rounds_left = 0;
  int32_t pongs = 0;
  int64_t pongs_total = 0;
};

void begin_round(stateful_actor<big_state>* self) {
  auto& s = self->state;
  s.pongs = 0;
  for (size_t i = 0; i < s.peers.size(); ++i)
    if (static_cast<int32_t>(i) != s.index)
      self->send(s.peers[i], ping_atom::value);
}

behavior big_actor(stateful_actor<big_state>* self) {
  return {
    // Setup, before the clock starts: one shared message for all actors.
    [=](start_atom, const std::vector<actor>& peers, const actor& coordinator,
        int32_t rounds) {
      auto& s = self->state;
      s.peers = peers;
      s.coordinator = coordinator;
      s.rounds_left = rounds;
      for (size_t i = 0; i < peers.size(); ++i)
        if (peers[i].address() == self->address())
          s.index = static_cast<int32_t>(i);
    },
    [=](go_atom) { begin_round(self); },
    [=](ping_atom) { return pong_atom::value; }, // reply goes to the pinger
    [=](pong_atom) {
      auto& s = self->state;
      ++s.pongs_total;
      if (++s.pongs < static_cast<int32_t>(s.peers.size()) - 1)
        return;
      if (--s.rounds_left > 0)
        begin_round(self);
      else
        self->send(s.coordinator, done_atom::value, s.pongs_total);
    },
  };
}

// Counts `done` reports (and the pongs they carry), then tells `main_`.
behavior coordinator(event_based_actor* self, actor main_, int32_t n) {
  auto left = std::make_shared<int32_t>(n);
  auto pongs = std::make_shared<int64_t>(0);
  return {
    [=](done_atom, int64_t pongs_seen) {
      *pongs += pongs_seen;
      if (--*left == 0) {
        self->send(main_, done_atom::value, *pongs);
        self->quit();
      }
    },
  };
}

behavior factory(event_based_actor* self, actor main_) {
  return {
    [=](spawn_atom) -> actor { return self->spawn(big_actor); },
    [=](quit_atom) { self->send(main_, quit_atom::value); },
  };
}

struct params {
  int64_t actors, rounds, workers;
  std::string mode;
};

int drive(actor_system& sys, scoped_actor& self, const params& p,
          const std::vector<actor>& peers) {
  auto n = static_cast<int32_t>(p.actors);
  auto coord = sys.spawn(coordinator, actor_cast<actor>(self), n);
  auto setup = make_message(start_atom::value, peers, coord,
                            static_cast<int32_t>(p.rounds));
  for (auto& a : peers)
    self->send(a, setup);
  // Per-pair FIFO order guarantees each actor sees `setup` before `go`.
  auto t0 = clk::now();
  for (auto& a : peers)
    self->send(a, go_atom::value);
  int64_t pongs = 0;
  self->receive([&](done_atom, int64_t x) { pongs = x; });
  double wall = seconds_since(t0);

  int64_t msgs = 2 * p.actors * (p.actors - 1) * p.rounds;
  if (2 * pongs != msgs)
    die("big: pong count mismatch");
  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("big"))
    .kv("system", std::string("caf"))
    .kv("mode", p.mode)
    .kv("actors", p.actors)
    .kv("rounds", p.rounds)
    .kv("workers", p.workers)
    .kv("sched", std::string("work_stealing"))
    .kv("msgs", msgs)
    .kv("wall_s", wall)
    .kv("msgs_per_s", msgs / wall, "%.0f")
    .print();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("actors", "64", "actors N");
  o.def("rounds", "100", "rounds K");
  o.parse(argc, argv, "big [--actors N] [--rounds K] [--workers W] "
                      "[--mode local|distributed]");
  params p{o.num("actors"), o.num("rounds"), o.num("workers"), o.str("mode")};
  if (p.actors < 2 || p.rounds < 1 || p.workers < 1)
    die("need actors >= 2, rounds >= 1, workers >= 1");

  auto shutdown = [](const std::vector<actor>& xs) {
    for (auto& a : xs)
      anon_send_exit(a, exit_reason::user_shutdown);
  };
  auto local = [&] {
    system_config cfg{p.workers, false};
    actor_system sys{cfg};
    scoped_actor self{sys};
    std::vector<actor> peers;
    for (int64_t i = 0; i < p.actors; ++i)
      peers.push_back(sys.spawn(big_actor));
    int rc = drive(sys, self, p, peers);
    shutdown(peers);
    return rc;
  };
  auto server = [&](uint16_t port, int notify_fd) {
    system_config cfg{p.workers, true};
    actor_system sys{cfg};
    scoped_actor self{sys};
    auto f = sys.spawn(factory, actor_cast<actor>(self));
    int rc = serve(sys, self, f, port, notify_fd, o.num("timeout"));
    std::fflush(nullptr);
    _exit(rc); // skip CAF's shutdown: remote proxies can keep it waiting
    return rc;
  };
  auto client = [&](const std::string& host, uint16_t port) {
    system_config cfg{p.workers, true};
    actor_system sys{cfg};
    scoped_actor self{sys};
    auto f = sys.middleman().remote_actor(host, port);
    if (!f)
      die("client: cannot reach server: %s", sys.render(f.error()));
    std::vector<actor> peers;
    for (int64_t i = 0; i < p.actors / 2; ++i)
      peers.push_back(sys.spawn(big_actor));
    for (int64_t i = p.actors / 2; i < p.actors; ++i)
      self->request(*f, std::chrono::seconds(30), spawn_atom::value)
        .receive([&](actor& a) { peers.push_back(std::move(a)); },
                 [&](error& e) { die("client: spawn failed: %s", sys.render(e)); });
    int rc = drive(sys, self, p, peers);
    self->send(*f, quit_atom::value);
    std::fflush(nullptr);
    usleep(100000); // let the quit leave before we drop the connection
    shutdown(peers);
    return rc;
  };
  return run_modes(o, local, server, client);
}
