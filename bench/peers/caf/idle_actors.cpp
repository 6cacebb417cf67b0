// idle_actors, CAF 0.17 peer: what an idle actor costs in memory.
//
// Spawns N event-based actors without state that do nothing but count one
// message each, sends every one of them that message (so each has been
// initialized and has run once), waits until all N have counted it, then
// reads the resident set (/proc/self/statm). bytes_per_actor = the RSS
// growth from before the first spawn to then, divided by N;
// bytes_per_actor_spawned is the same before the messages.
#include "common.hpp"

#include <atomic>

using namespace caf;
using namespace bench;

namespace {

std::atomic<int64_t> counted{0};
int64_t expected_count = 0;
actor* main_actor = nullptr;

behavior idle(event_based_actor* self) {
  return {
    [=](ping_atom) {
      if (counted.fetch_add(1) + 1 == expected_count)
        self->send(*main_actor, done_atom::value);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("actors", "1000000", "idle actors N");
  o.parse(argc, argv, "idle_actors [--actors N] [--workers W]");
  int64_t n = o.num("actors"), workers = o.num("workers");
  if (n < 1 || workers < 1)
    die("need actors >= 1, workers >= 1");
  if (o.str("mode") != "local")
    die("idle_actors runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));
  expected_count = n;

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  actor me = actor_cast<actor>(self);
  main_actor = &me;
  // The handles are the program's, not the actors': allocated before the
  // first measurement.
  std::vector<actor> refs(static_cast<size_t>(n));

  long rss0 = rss_kb();
  auto t0 = clk::now();
  for (auto& a : refs)
    a = sys.spawn(idle);
  long rss1 = rss_kb();
  for (auto& a : refs)
    self->send(a, ping_atom::value);
  self->receive([&](done_atom) {});
  double wall = seconds_since(t0);
  long rss2 = rss_kb();
  if (counted.load() != n || rss0 < 0 || rss2 < 0)
    die("idle_actors: not all actors counted, or no /proc/self/statm");

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("idle_actors"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("actors", n)
    .kv("workers", workers)
    .kv("rss_before_kb", static_cast<int64_t>(rss0))
    .kv("rss_after_kb", static_cast<int64_t>(rss2))
    .kv("bytes_per_actor", (rss2 - rss0) * 1024.0 / n, "%.1f")
    .kv("bytes_per_actor_spawned", (rss1 - rss0) * 1024.0 / n, "%.1f")
    .kv("wall_s", wall)
    .kv("msgs_per_s", n / wall, "%.0f")
    .print();
  return 0;
}
