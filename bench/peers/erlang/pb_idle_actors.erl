%% idle_actors, Erlang/OTP 25 peer: what an idle process costs in memory.
%%
%% Spawns N processes that each tell the main process once that they run and
%% then wait in a receive forever (idle: no state beyond the process itself),
%% waits for all N reports, then reads the VM's resident set (VmRSS in
%% /proc/self/status). bytes_per_actor = the RSS growth from before the first
%% spawn to then, divided by N; bytes_per_actor_spawned is the same right
%% after the spawns. The launcher raises the process limit (+P).
-module(pb_idle_actors).
-export([main/0]).

main() ->
    O = pb_util:parse("idle_actors [--actors N] [--workers W]",
                      [{"actors", "1000000", "idle processes N"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [N, Workers] = [pb_util:num(X, O) || X <- ["actors", "workers"]],
    N >= 1 orelse pb_util:fail("need actors >= 1"),
    pb_util:str("mode", O) =:= "local" orelse
        pb_util:fail("idle_actors runs in local mode only"),
    Self = self(),
    Rss0 = pb_util:rss_kb(),
    T0 = erlang:monotonic_time(),
    spawn_n(Self, N),
    Rss1 = pb_util:rss_kb(),
    wait_n(N),
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    garbage_collect(),
    Rss2 = pb_util:rss_kb(),
    Live = erlang:system_info(process_count),
    Live >= N orelse pb_util:fail("only ~p processes alive", [Live]),
    (Rss0 > 0 andalso Rss2 > 0) orelse pb_util:fail("cannot read /proc/self/status"),
    pb_util:result([{"bench", "idle_actors"}, {"system", "erlang"}, {"mode", "local"},
                    {"actors", N}, {"workers", Workers},
                    {"rss_before_kb", Rss0}, {"rss_after_kb", Rss2},
                    {"bytes_per_actor", (Rss2 - Rss0) * 1024 / N},
                    {"bytes_per_actor_spawned", (Rss1 - Rss0) * 1024 / N},
                    {"wall_s", Wall}, {"msgs_per_s", round(N / Wall)}]),
    halt(0).

spawn_n(_, 0) -> ok;
spawn_n(Main, I) ->
    spawn(fun() -> Main ! running, idle() end),
    spawn_n(Main, I - 1).

wait_n(0) -> ok;
wait_n(I) -> receive running -> wait_n(I - 1) end.

idle() ->
    receive _ -> idle() end.
