// chameneos (Savina), CAF 0.17 peer: C chameneos meet through a mall, N
// meetings in all. Each chameneo sends `meet` (its color) to the mall; the
// mall keeps the first of two waiting and forwards the second one's `meet`
// to it; that one takes the complement of the two colors, answers the other
// with `change` (the new color) and both go back to the mall. After N
// meetings the mall answers every `meet` with `exit`; a chameneo then reports
// its meeting count and quits. The counts must add up to 2 N.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

using meet_atom = atom_constant<atom("meet")>;
using change_atom = atom_constant<atom("change")>;
using exit_atom = atom_constant<atom("exit")>;
using count_atom = atom_constant<atom("count")>;

int32_t complement(int32_t a, int32_t b) { return a == b ? a : 3 - a - b; }

struct mall_state {
  int64_t meetings = 0;
  int64_t faded = 0;
  int64_t sum = 0;
  actor waiting; // none: nobody waits
};

behavior mall(stateful_actor<mall_state>* self, int64_t max, int64_t chameneos,
              actor main) {
  return {
    [=](meet_atom, int32_t color, const actor& who) { // color: who's
      auto& s = self->state;
      if (s.meetings == max) {
        self->send(who, exit_atom::value);
      } else if (!s.waiting) {
        s.waiting = who;
      } else {
        ++s.meetings;
        self->send(s.waiting, meet_atom::value, color, who);
        s.waiting = nullptr;
      }
    },
    [=](count_atom, int64_t n) {
      auto& s = self->state;
      s.sum += n;
      if (++s.faded == chameneos) {
        self->send(main, done_atom::value, s.sum);
        self->quit();
      }
    },
  };
}

struct cham_state {
  int32_t color = 0;
  int64_t meetings = 0;
};

behavior chameneo(stateful_actor<cham_state>* self, actor the_mall, int32_t color) {
  self->state.color = color;
  auto to_mall = [=] {
    self->send(the_mall, meet_atom::value, self->state.color, actor_cast<actor>(self));
  };
  return {
    [=](start_atom) { to_mall(); },
    [=](meet_atom, int32_t other, const actor& who) {
      auto& s = self->state;
      s.color = complement(s.color, other);
      ++s.meetings;
      self->send(who, change_atom::value, s.color);
      to_mall();
    },
    [=](change_atom, int32_t c) {
      self->state.color = c;
      ++self->state.meetings;
      to_mall();
    },
    [=](exit_atom) {
      self->send(the_mall, count_atom::value, self->state.meetings);
      self->quit();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("chameneos", "100", "chameneos C");
  o.def("meetings", "200000", "meetings N");
  o.parse(argc, argv, "chameneos [--chameneos C] [--meetings N] [--workers W]");
  int64_t c = o.num("chameneos"), n = o.num("meetings"), workers = o.num("workers");
  if (c < 2 || workers < 1)
    die("need chameneos >= 2, workers >= 1");
  if (o.str("mode") != "local")
    die("chameneos runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  auto m = sys.spawn(mall, n, c, actor_cast<actor>(self));
  std::vector<actor> cham;
  for (int64_t i = 0; i < c; ++i)
    cham.push_back(sys.spawn(chameneo, m, static_cast<int32_t>(i % 3)));
  int64_t sum = -1;
  auto t0 = clk::now();
  for (auto& a : cham)
    self->send(a, start_atom::value);
  self->receive([&](done_atom, int64_t s) { sum = s; });
  double wall = seconds_since(t0);
  if (sum != 2 * n)
    die("chameneos: %s meetings counted", std::to_string(sum));

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("chameneos"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("chameneos", c)
    .kv("meetings", n)
    .kv("workers", workers)
    .kv("wall_s", wall)
    .kv("msgs_per_s", (4 * n + 3 * c) / wall, "%.0f")
    .print();
  return 0;
}
