// fjthrput (Savina's fork-join throughput), CAF 0.17 peer: a producer sends N
// messages to each of A actors, round-robin; an actor does a little work per
// message (the square of sin(37.2), accumulated) and reports when it has all
// N. Every actor must report N messages and the sum of N such squares.
#include "common.hpp"

#include <atomic>
#include <cmath>

using namespace caf;
using namespace bench;

namespace {

using work_atom = atom_constant<atom("work")>;

volatile double theta = 37.2; // read at run time, so the work is not folded away

struct thr_state {
  int64_t count = 0;
  double sum = 0;
};

behavior thr(stateful_actor<thr_state>* self, int64_t n, actor main) {
  return {
    [=](work_atom) {
      auto& s = self->state;
      double x = std::sin(theta);
      s.sum += x * x;
      if (++s.count < n)
        return;
      double expect = static_cast<double>(n) * x * x;
      self->send(main, done_atom::value, std::fabs(s.sum - expect) <= 1e-9 * expect);
      self->quit();
    },
  };
}

behavior producer(event_based_actor* self, std::vector<actor> actors, int64_t n) {
  return {
    [=](start_atom) {
      for (int64_t i = 0; i < n; ++i)
        for (auto& a : actors)
          self->send(a, work_atom::value);
      self->quit();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("actors", "60", "actors A");
  o.def("msgs", "10000", "messages N per actor");
  o.parse(argc, argv, "fjthrput [--actors A] [--msgs N] [--workers W]");
  int64_t a = o.num("actors"), n = o.num("msgs"), workers = o.num("workers");
  if (a < 1 || n < 1 || workers < 1)
    die("need actors >= 1, msgs >= 1, workers >= 1");
  if (o.str("mode") != "local")
    die("fjthrput runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  std::vector<actor> actors;
  for (int64_t i = 0; i < a; ++i)
    actors.push_back(sys.spawn(thr, n, actor_cast<actor>(self)));
  auto p = sys.spawn(producer, actors, n);
  int64_t wrong = 0;
  auto t0 = clk::now();
  self->send(p, start_atom::value);
  for (int64_t i = 0; i < a; ++i)
    self->receive([&](done_atom, bool ok) { wrong += ok ? 0 : 1; });
  double wall = seconds_since(t0);
  if (wrong != 0)
    die("fjthrput: %s actors got a wrong sum", std::to_string(wrong));

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("fjthrput"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("actors", a)
    .kv("msgs", n)
    .kv("workers", workers)
    .kv("total", a * n)
    .kv("wall_s", wall)
    .kv("msgs_per_s", a * n / wall, "%.0f")
    .print();
  return 0;
}
