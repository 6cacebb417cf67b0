// mixed_case (CAF's benchmark suite), CAF 0.17 peer: compute mixed with
// messaging.
//
// R rings of A actors each: a master and A-1 links. The master sends a token
// with value K around its ring; a link passes it on (and quits once it has
// passed on 0); the master, each time the token is back with a value v > 0,
// asks its ring's worker to factor a fixed number N by trial division and
// sends the token round again with v-1. A ring is done when the token is back
// with 0 and the worker has answered all K requests. Every answer is checked:
// its factors multiply to N and are the same each time; a mismatch exits
// non-zero. Messages = R (A (K+1) + 2 K).
#include "common.hpp"

#include <atomic>

using namespace caf;
using namespace bench;

namespace {

using token_atom = atom_constant<atom("token")>;
using factor_atom = atom_constant<atom("factor")>;
using factors_atom = atom_constant<atom("factors")>;
using u64vec = std::vector<uint64_t>;

struct shared {
  uint64_t number;
  int64_t laps;
  int64_t ring_size;
  std::atomic<int64_t> rings_left;
  actor main;
};

u64vec factorize(uint64_t n) {
  u64vec out;
  for (uint64_t d = 2; d * d <= n; ++d)
    while (n % d == 0) {
      out.push_back(d);
      n /= d;
    }
  if (n > 1)
    out.push_back(n);
  return out;
}

behavior worker(event_based_actor* self, uint64_t n) {
  return {
    [=](factor_atom) {
      self->send(actor_cast<actor>(self->current_sender()), factors_atom::value,
                 factorize(n));
    },
    [=](quit_atom) { self->quit(); },
  };
}

behavior ring_link(event_based_actor* self, actor next) {
  return {
    [=](token_atom, int64_t v) {
      self->send(next, token_atom::value, v);
      if (v == 0)
        self->quit();
    },
  };
}

struct master_state {
  actor first;
  actor worker;
  int64_t answers = 0;
  bool token_back = false;
  u64vec factors;
};

void maybe_done(stateful_actor<master_state>* self, shared* sh) {
  auto& s = self->state;
  if (!s.token_back || s.answers < sh->laps)
    return;
  self->send(s.worker, quit_atom::value);
  if (sh->rings_left.fetch_sub(1) == 1)
    self->send(sh->main, done_atom::value);
  self->quit();
}

behavior master(stateful_actor<master_state>* self, shared* sh) {
  return {
    [=](start_atom) {
      auto& s = self->state;
      // The ring, built backwards: the last link passes to the master.
      actor next = actor_cast<actor>(self);
      for (int64_t i = 1; i < sh->ring_size; ++i)
        next = self->spawn(ring_link, next);
      s.first = next;
      s.worker = self->spawn(worker, sh->number);
      self->send(s.first, token_atom::value, sh->laps);
    },
    [=](token_atom, int64_t v) {
      auto& s = self->state;
      if (v == 0) {
        s.token_back = true;
        maybe_done(self, sh);
        return;
      }
      self->send(s.worker, factor_atom::value);
      self->send(s.first, token_atom::value, v - 1);
    },
    [=](factors_atom, const u64vec& f) {
      auto& s = self->state;
      uint64_t product = 1;
      for (auto x : f)
        product *= x;
      if (f.empty() || product != sh->number)
        die("mixed_case: the factors do not multiply to N");
      if (s.answers++ == 0)
        s.factors = f;
      else if (f != s.factors)
        die("mixed_case: two answers differ");
      maybe_done(self, sh);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("rings", "20", "rings R");
  o.def("ring-size", "50", "actors per ring A (a master and A-1 links)");
  o.def("laps", "1000", "laps K of each ring's token; one factorization per lap");
  o.def("number", "100160063", "the number N to factor (default 10007 * 10009)");
  o.parse(argc, argv, "mixed_case [--rings R] [--ring-size A] [--laps K] [--number N]");
  int64_t rings = o.num("rings"), workers = o.num("workers");
  shared sh;
  sh.ring_size = o.num("ring-size");
  sh.laps = o.num("laps");
  sh.number = static_cast<uint64_t>(o.num("number"));
  sh.rings_left = rings;
  if (rings < 1 || sh.ring_size < 2 || sh.laps < 1 || sh.number < 2 || workers < 1)
    die("need rings >= 1, ring-size >= 2, laps >= 1, number >= 2, workers >= 1");
  if (o.str("mode") != "local")
    die("mixed_case runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  sh.main = actor_cast<actor>(self);

  auto t0 = clk::now();
  for (int64_t i = 0; i < rings; ++i)
    self->send(sys.spawn(master, &sh), start_atom::value);
  self->receive([&](done_atom) {});
  double wall = seconds_since(t0);

  int64_t msgs = rings * (sh.ring_size * (sh.laps + 1) + 2 * sh.laps);
  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("mixed_case"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("rings", rings)
    .kv("ring_size", sh.ring_size)
    .kv("laps", sh.laps)
    .kv("number", std::to_string(sh.number))
    .kv("workers", workers)
    .kv("msgs", msgs)
    .kv("wall_s", wall)
    .kv("msgs_per_s", msgs / wall, "%.0f")
    .print();
  return 0;
}
