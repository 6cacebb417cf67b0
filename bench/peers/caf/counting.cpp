// counting (Savina), CAF 0.17 peer: a producer sends N increments to a
// counter, one message each, then asks for the total, which must be N.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

using increment_atom = atom_constant<atom("increment")>;
using retrieve_atom = atom_constant<atom("retrieve")>;

behavior counter(stateful_actor<int64_t>* self) {
  return {
    [=](increment_atom) { ++self->state; },
    [=](retrieve_atom) { return self->state; }, // goes back to the sender
  };
}

behavior producer(event_based_actor* self, actor dest, int64_t n, actor main) {
  return {
    [=](start_atom) {
      for (int64_t i = 0; i < n; ++i)
        self->send(dest, increment_atom::value);
      self->send(dest, retrieve_atom::value);
    },
    [=](int64_t total) { self->send(main, done_atom::value, total); },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("count", "1000000", "increments N");
  o.parse(argc, argv, "counting [--count N] [--workers W]");
  int64_t n = o.num("count"), workers = o.num("workers");
  if (n < 1 || workers < 1)
    die("need count >= 1, workers >= 1");
  if (o.str("mode") != "local")
    die("counting runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  auto c = sys.spawn(counter);
  auto p = sys.spawn(producer, c, n, actor_cast<actor>(self));
  int64_t total = -1;
  auto t0 = clk::now();
  self->send(p, start_atom::value);
  self->receive([&](done_atom, int64_t t) { total = t; });
  double wall = seconds_since(t0);
  if (total != n)
    die("counting: wrong total %s", std::to_string(total));

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("counting"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("count", n)
    .kv("workers", workers)
    .kv("total", total)
    .kv("wall_s", wall)
    .kv("msgs_per_s", (n + 2) / wall, "%.0f")
    .print();
  return 0;
}
