// sort (divide and conquer, DESIGN.md §5), CAF 0.17 peer.
//
// An actor that is asked to sort more than T ints spawns two children, sends
// each one half (a request), waits for both sorted halves and merges them;
// at T or fewer it sorts in place. Idiomatic CAF: vectors are moved into
// messages (CAF messages are copy-on-write, so a moved vector is not copied).
//
// Input: L ints from splitmix64 with a fixed seed, value = x >> 33, the same
// generator the Erlang and libactor versions use, so all systems sort the same
// list and print the same checksum = sum over i of (i+1) * sorted[i] mod 2^64.
// The result is checked against std::sort of a copy; a mismatch exits 1.
#include "common.hpp"

#include <atomic>

using namespace caf;
using namespace bench;

namespace {

using ivec = std::vector<int32_t>;

struct sort_state {
  ivec halves[2];
  int got = 0;
  response_promise rp;
};

struct shared {
  size_t threshold;
  std::atomic<int64_t> spawned{0};
};

void half_done(stateful_actor<sort_state>* self, int which, ivec& v) {
  auto& s = self->state;
  s.halves[which] = std::move(v);
  if (++s.got < 2)
    return;
  ivec out(s.halves[0].size() + s.halves[1].size());
  std::merge(s.halves[0].begin(), s.halves[0].end(), s.halves[1].begin(),
             s.halves[1].end(), out.begin());
  s.rp.deliver(std::move(out));
  self->quit();
}

behavior sorter(stateful_actor<sort_state>* self, shared* sh) {
  return {
    [=](sort_atom, ivec& v) -> result<ivec> {
      if (v.size() <= sh->threshold) {
        std::sort(v.begin(), v.end());
        self->quit();
        return std::move(v);
      }
      auto& s = self->state;
      s.rp = self->make_response_promise();
      auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
      ivec right(mid, v.end());
      v.erase(mid, v.end());
      ivec* parts[2] = {&v, &right};
      for (int i = 0; i < 2; ++i) {
        auto child = self->spawn(sorter, sh);
        sh->spawned.fetch_add(1, std::memory_order_relaxed);
        self->request(child, infinite, sort_atom::value, std::move(*parts[i]))
          .then([=](ivec& r) { half_done(self, i, r); });
      }
      return s.rp;
    },
  };
}

// Actors the recursion creates for a list of n elements.
int64_t expected_actors(int64_t n, int64_t t) {
  return n <= t ? 1 : 1 + expected_actors(n / 2, t) + expected_actors(n - n / 2, t);
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("length", "100000", "list length L");
  o.def("threshold", "64", "sort sequentially at or below T elements");
  o.def("seed", "42", "splitmix64 seed of the input");
  o.parse(argc, argv, "sort [--length L] [--threshold T] [--workers W] [--seed S]");
  int64_t len = o.num("length"), thr = o.num("threshold"), workers = o.num("workers");
  if (len < 1 || thr < 1 || workers < 1)
    die("length, threshold and workers must be >= 1");
  if (o.str("mode") != "local")
    die("sort runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  uint64_t seed = static_cast<uint64_t>(o.num("seed"));
  ivec input(static_cast<size_t>(len));
  for (auto& x : input)
    x = static_cast<int32_t>(splitmix64(seed) >> 33);
  ivec reference = input;
  std::sort(reference.begin(), reference.end());

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  shared sh;
  sh.threshold = static_cast<size_t>(thr);
  ivec out;

  auto t0 = clk::now();
  auto root = sys.spawn(sorter, &sh);
  sh.spawned.fetch_add(1, std::memory_order_relaxed);
  self->request(root, infinite, sort_atom::value, std::move(input))
    .receive([&](ivec& r) { out = std::move(r); },
             [&](error& e) { die("sort failed: %s", sys.render(e)); });
  double wall = seconds_since(t0);

  if (out != reference)
    die("sort: output is not the sorted input");
  int64_t spawned = sh.spawned.load();
  if (spawned != expected_actors(len, thr))
    die("sort: unexpected number of actors");
  uint64_t sum = 0;
  for (size_t i = 0; i < out.size(); ++i)
    sum += (i + 1) * static_cast<uint64_t>(out[i]);

  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("sort"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("length", len)
    .kv("threshold", thr)
    .kv("workers", workers)
    .kv("sched", std::string("work_stealing"))
    .kv("spawned", spawned)
    .kv("wall_s", wall)
    .kv("spawns_per_s", spawned / wall, "%.0f")
    .kv("msgs_per_s", 2.0 * spawned / wall, "%.0f") // a request and a reply each
    .kv("checksum", std::to_string(sum))
    .print();
  return 0;
}
