// mailbox_performance (CAF's benchmark suite), CAF 0.17 peer.
//
// S sender actors each send M messages to one receiver as fast as they can
// (one loop in one handler, as in CAF's own version), all at once. Each
// message carries the sender's index and a sequence number; the receiver
// checks that every sender's messages arrive complete and in order.
#include "common.hpp"

using namespace caf;
using namespace bench;

namespace {

struct recv_state {
  std::vector<uint64_t> next;
  int64_t received = 0;
};

behavior receiver(stateful_actor<recv_state>* self, int64_t senders, int64_t msgs,
                  actor main) {
  self->state.next.resize(static_cast<size_t>(senders));
  return {
    [=](uint64_t v) {
      auto& s = self->state;
      auto from = static_cast<size_t>(v >> 40);
      if (from >= s.next.size() || (v & ((uint64_t{1} << 40) - 1)) != s.next[from]++)
        die("mailbox_performance: message out of order or from nowhere");
      if (++s.received == senders * msgs) {
        for (auto n : s.next)
          if (n != static_cast<uint64_t>(msgs))
            die("mailbox_performance: a sender's count is wrong");
        self->send(main, done_atom::value);
        self->quit();
      }
    },
  };
}

behavior sender(event_based_actor* self, actor dest, uint64_t index, int64_t msgs) {
  return {
    [=](start_atom) {
      for (int64_t i = 0; i < msgs; ++i)
        self->send(dest, index << 40 | static_cast<uint64_t>(i));
      self->quit();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  options o;
  common_flags(o);
  o.def("senders", "20", "senders S");
  o.def("msgs", "400000", "messages per sender M");
  o.parse(argc, argv, "mailbox_performance [--senders S] [--msgs M] [--workers W]");
  int64_t senders = o.num("senders"), msgs = o.num("msgs"), workers = o.num("workers");
  if (senders < 1 || senders > (1 << 20) || msgs < 1 || msgs >= (int64_t{1} << 40) ||
      workers < 1)
    die("need 1 <= senders <= 2^20, 1 <= msgs < 2^40, workers >= 1");
  if (o.str("mode") != "local")
    die("mailbox_performance runs in local mode only");
  alarm(static_cast<unsigned>(o.num("timeout")));

  system_config cfg{workers, false};
  actor_system sys{cfg};
  scoped_actor self{sys};
  auto recv = sys.spawn(receiver, senders, msgs, actor_cast<actor>(self));
  std::vector<actor> snd;
  for (int64_t i = 0; i < senders; ++i)
    snd.push_back(sys.spawn(sender, recv, static_cast<uint64_t>(i), msgs));

  auto t0 = clk::now();
  for (auto& s : snd)
    self->send(s, start_atom::value);
  self->receive([&](done_atom) {});
  double wall = seconds_since(t0);

  int64_t total = senders * msgs;
  std::printf("# caf %s\n", sched_desc(sys).c_str());
  result_line r;
  r.kv("bench", std::string("mailbox_performance"))
    .kv("system", std::string("caf"))
    .kv("mode", std::string("local"))
    .kv("senders", senders)
    .kv("msgs", msgs)
    .kv("workers", workers)
    .kv("total", total)
    .kv("wall_s", wall)
    .kv("msgs_per_s", total / wall, "%.0f")
    .print();
  return 0;
}
