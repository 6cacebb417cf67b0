%% threadring (Savina), Erlang/OTP 25 peer: N processes in a ring pass a
%% token T hops. Process 0 gets the token with value T; one that gets v > 0
%% passes v-1 to the next; the one that gets 0 reports its index, which must
%% be T mod N.
-module(pb_threadring).
-export([main/0]).

main() ->
    O = pb_util:parse("threadring [--actors N] [--hops T] [--workers W]",
                      [{"actors", "100", "processes N in the ring"},
                       {"hops", "1000000", "hops T of the token"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [N, Hops, Workers] = [pb_util:num(X, O) || X <- ["actors", "hops", "workers"]],
    N >= 1 orelse pb_util:fail("need actors >= 1"),
    pb_util:str("mode", O) =:= "local" orelse
        pb_util:fail("threadring runs in local mode only"),
    Self = self(),
    Ring = [spawn(fun() -> receive {next, Next} -> member(Self, I, Next) end end)
            || I <- lists:seq(0, N - 1)],
    [P ! {next, Next} || {P, Next} <- lists:zip(Ring, tl(Ring) ++ [hd(Ring)])],
    T0 = erlang:monotonic_time(),
    hd(Ring) ! {token, Hops},
    Winner = receive {done, W} -> W end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Winner =:= Hops rem N orelse pb_util:fail("process ~p got the last hop", [Winner]),
    pb_util:result([{"bench", "threadring"}, {"system", "erlang"}, {"mode", "local"},
                    {"actors", N}, {"hops", Hops}, {"workers", Workers}, {"winner", Winner},
                    {"wall_s", Wall}, {"msgs_per_s", round((Hops + 1) / Wall)}]),
    halt(0).

member(Main, I, Next) ->
    receive
        {token, 0} -> Main ! {done, I}, member(Main, I, Next);
        {token, V} -> Next ! {token, V - 1}, member(Main, I, Next)
    end.
