%% fjthrput (Savina's fork-join throughput), Erlang/OTP 25 peer: a producer
%% sends N messages to each of A processes, round-robin; a process does a
%% little work per message (the square of math:sin(37.2), accumulated) and
%% reports when it has all N. Every process must report N messages and the
%% sum of N such squares.
-module(pb_fjthrput).
-export([main/0]).

main() ->
    O = pb_util:parse("fjthrput [--actors A] [--msgs N] [--workers W]",
                      [{"actors", "60", "processes A"},
                       {"msgs", "10000", "messages N per process"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [A, N, Workers] = [pb_util:num(X, O) || X <- ["actors", "msgs", "workers"]],
    (A >= 1 andalso N >= 1) orelse pb_util:fail("need actors >= 1, msgs >= 1"),
    pb_util:str("mode", O) =:= "local" orelse pb_util:fail("fjthrput runs in local mode only"),
    Self = self(),
    Theta = 37.2,
    Actors = [spawn(fun() -> thr(Self, Theta, N, 0, 0.0) end) || _ <- lists:seq(1, A)],
    Producer = spawn(fun() -> receive start -> produce(Actors, N) end end),
    T0 = erlang:monotonic_time(),
    Producer ! start,
    Wrong = lists:sum([receive {done, Ok} -> case Ok of true -> 0; false -> 1 end end
                       || _ <- Actors]),
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Wrong =:= 0 orelse pb_util:fail("~p processes got a wrong sum", [Wrong]),
    pb_util:result([{"bench", "fjthrput"}, {"system", "erlang"}, {"mode", "local"},
                    {"actors", A}, {"msgs", N}, {"workers", Workers}, {"total", A * N},
                    {"wall_s", Wall}, {"msgs_per_s", round(A * N / Wall)}]),
    halt(0).

produce(_, 0) -> ok;
produce(Actors, I) ->
    [P ! work || P <- Actors],
    produce(Actors, I - 1).

thr(Main, Theta, N, Count, Sum) ->
    receive
        work ->
            X = math:sin(Theta),
            case Count + 1 of
                N ->
                    S = Sum + X * X,
                    Expect = N * X * X,
                    Main ! {done, abs(S - Expect) =< 1.0e-9 * Expect};
                C ->
                    thr(Main, Theta, N, C, Sum + X * X)
            end
    end.
