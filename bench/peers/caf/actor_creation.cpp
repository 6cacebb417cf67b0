// actor_creation (CAF's benchmark suite), CAF 0.17 peer.
//
// An actor told to create at depth D > 0 spawns two children and tells each
// to create at depth D-1; at depth 0 it answers 1. A parent adds its
// children's answers, passes the sum up and quits. The root's sum must be
// 2^D, and 2^(D+1)-1 actors must have been spawned; a mismatch exits non-zero.
#include "common.hpp"

#include <atomic>

using namespace caf;
using namespace bench;

namespace {

using create_atom = atom_constant<atom("create")>;
using result_atom = atom_constant<atom("result")>;

std::atomic<int64_t> spawned{0};

struct node_state {
  uint64_t sum = 0;
  int got = 0;
};

behavior node(stateful_actor<node_state>* self, actor parent) {
  return {
    [=](create_atom, uint32_t depth) {
      if (depth == 0) {
        self->send(parent, result_atom::value, uint64_t{1});
        self->quit();
        return;
      }
      for (int i = 0; i < 2; ++i) {
        auto child = self->spawn(node, actor_cast<actor>(self));
        spawned.fetch_add(1, std::memory_order_relaxed);
        self->send(child, create_atom::value, depth - 1);
      }
    },
    [=](result_atom, uint64_t v) {
      auto& s = self->state;
      s.sum += v;
      if (++s.got == 2) {
        self->send(parent, result_atom::value, s.sum);
        self->quit();
      }
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("depth", "20", "tree depth D: 2^D leaves, 2^(D+1)-1 actors");
  o.parse(argc, argv, "actor_creation [--depth D] [--workers W]");
  int64_t depth = o.num("depth"), workers = o.num("workers");
  if (depth > 30 || workers < 1)
    die("need depth <= 30 and workers >= 1");
  if (o.str("mode") != "local")
    die("actor_creation runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  uint64_t sum = 0;

  auto t0 = clk::now();
  auto root = sys.spawn(node, actor_cast<actor>(self));
  spawned.fetch_add(1, std::memory_order_relaxed);
  self->send(root, create_atom::value, static_cast<uint32_t>(depth));
  self->receive([&](result_atom, uint64_t v) { sum = v; });
  double wall = seconds_since(t0);

  int64_t actors = (int64_t{2} << depth) - 1;
  if (sum != uint64_t{1} << depth)
    die("actor_creation: wrong sum %s", std::to_string(sum));
  if (spawned.load() != actors)
    die("actor_creation: %s actors spawned", std::to_string(spawned.load()));

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("actor_creation"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("depth", depth)
    .kv("workers", workers)
    .kv("actors", actors)
    .kv("sum", std::to_string(sum))
    .kv("wall_s", wall)
    .kv("spawns_per_s", actors / wall, "%.0f")
    .kv("msgs_per_s", 2.0 * actors / wall, "%.0f")
    .print();
  return 0;
}
