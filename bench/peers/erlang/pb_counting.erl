%% counting (Savina), Erlang/OTP 25 peer: a producer sends N increments to a
%% counter, one message each, then asks for the total, which must be N.
-module(pb_counting).
-export([main/0]).

main() ->
    O = pb_util:parse("counting [--count N] [--workers W]",
                      [{"count", "1000000", "increments N"}], init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [N, Workers] = [pb_util:num(X, O) || X <- ["count", "workers"]],
    N >= 1 orelse pb_util:fail("need count >= 1"),
    pb_util:str("mode", O) =:= "local" orelse pb_util:fail("counting runs in local mode only"),
    Self = self(),
    Counter = spawn(fun() -> counter(0) end),
    Producer = spawn(fun() -> receive start -> producer(Self, Counter, N) end end),
    T0 = erlang:monotonic_time(),
    Producer ! start,
    Total = receive {total, T} -> T end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Total =:= N orelse pb_util:fail("wrong total ~p", [Total]),
    pb_util:result([{"bench", "counting"}, {"system", "erlang"}, {"mode", "local"},
                    {"count", N}, {"workers", Workers}, {"total", Total}, {"wall_s", Wall},
                    {"msgs_per_s", round((N + 2) / Wall)}]),
    halt(0).

counter(C) ->
    receive
        increment -> counter(C + 1);
        {retrieve, From} -> From ! {total, C}
    end.

producer(Main, Counter, 0) ->
    Counter ! {retrieve, self()},
    receive {total, T} -> Main ! {total, T} end;
producer(Main, Counter, I) ->
    Counter ! increment,
    producer(Main, Counter, I - 1).
