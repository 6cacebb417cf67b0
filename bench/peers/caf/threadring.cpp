// threadring (Savina), CAF 0.17 peer: N actors in a ring pass a token T
// hops. Actor 0 gets the token with value T; an actor that gets v > 0 passes
// v-1 to the next; the one that gets 0 reports its index, which must be
// T mod N.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

using token_atom = atom_constant<atom("token")>;

struct member_state {
  actor next;
};

behavior member(stateful_actor<member_state>* self, int64_t index, actor main) {
  return {
    [=](start_atom, const actor& next) { self->state.next = next; },
    [=](token_atom, int64_t v) {
      if (v == 0)
        self->send(main, done_atom::value, index);
      else
        self->send(self->state.next, token_atom::value, v - 1);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("actors", "100", "actors N in the ring");
  o.def("hops", "1000000", "hops T of the token");
  o.parse(argc, argv, "threadring [--actors N] [--hops T] [--workers W]");
  int64_t n = o.num("actors"), hops = o.num("hops"), workers = o.num("workers");
  if (n < 1 || workers < 1)
    die("need actors >= 1, workers >= 1");
  if (o.str("mode") != "local")
    die("threadring runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  std::vector<actor> ring;
  for (int64_t i = 0; i < n; ++i)
    ring.push_back(sys.spawn(member, i, actor_cast<actor>(self)));
  for (int64_t i = 0; i < n; ++i)
    self->send(ring[i], start_atom::value, ring[(i + 1) % n]);
  int64_t winner = -1;
  auto t0 = clk::now();
  self->send(ring[0], token_atom::value, hops);
  self->receive([&](done_atom, int64_t w) { winner = w; });
  double wall = seconds_since(t0);
  if (winner != hops % n)
    die("threadring: actor %s got the last hop", std::to_string(winner));
  for (auto& a : ring)
    self->send_exit(a, exit_reason::user_shutdown);

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("threadring"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("actors", n)
    .kv("hops", hops)
    .kv("workers", workers)
    .kv("winner", winner)
    .kv("wall_s", wall)
    .kv("msgs_per_s", (hops + 1) / wall, "%.0f")
    .print();
  return 0;
}
