%% big (bencherl's Big, DESIGN.md §5), Erlang/OTP 25 peer.
%%
%% N processes, K rounds. In a round a process sends {ping, self()} to every
%% other process and counts pongs; pings are answered at once. With N-1 pongs
%% its round is over and it starts the next (no global barrier; a pong can
%% only belong to its receiver's current round). After K rounds it reports
%% {done, Pongs} to the master and keeps answering pings until killed.
%% Messages = 2*N*(N-1)*K. Unlike bencherl's big.erl, pongs are counted, not
%% matched in a fixed order by selective receive: the same algorithm as the
%% libactor and CAF versions (notes/runtimes.md §2.3).
%%
%% Distributed: processes [N div 2, N) run on a second node (peer, 127.0.0.1).
-module(pb_big).
-export([main/0, actor/0]).

main() ->
    O = pb_util:parse("big [--actors N] [--rounds K] [--workers W] "
                      "[--mode local|distributed]",
                      [{"actors", "64", "actors N"}, {"rounds", "100", "rounds K"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [N, K, Workers] = [pb_util:num(X, O) || X <- ["actors", "rounds", "workers"]],
    (N >= 2 andalso K >= 1) orelse pb_util:fail("need actors >= 2 and rounds >= 1"),
    Mode = pb_util:str("mode", O),
    {Wall, Pongs} = case Mode of
                        "local" -> run(N, K, node());
                        "distributed" ->
                            pb_util:with_nodes(Workers, fun(Nd) -> run(N, K, Nd) end);
                        _ -> pb_util:fail("--mode must be local or distributed")
                    end,
    Msgs = 2 * N * (N - 1) * K,
    2 * Pongs =:= Msgs orelse pb_util:fail("pong count mismatch: ~p", [Pongs]),
    pb_util:result([{"bench", "big"}, {"system", "erlang"}, {"mode", Mode},
                    {"actors", N}, {"rounds", K}, {"workers", Workers},
                    {"sched", "beam"}, {"msgs", Msgs}, {"wall_s", Wall},
                    {"msgs_per_s", round(Msgs / Wall)}]),
    halt(0).

run(N, K, RemoteNode) ->
    Half = N div 2,
    Procs = [spawn_link(?MODULE, actor, []) || _ <- lists:seq(1, Half)] ++
        [spawn_link(RemoteNode, ?MODULE, actor, []) || _ <- lists:seq(Half + 1, N)],
    [P ! {setup, Procs, self(), K} || P <- Procs],   % before the clock starts
    T0 = erlang:monotonic_time(),
    [P ! go || P <- Procs],
    Pongs = lists:sum([receive {done, X} -> X end || _ <- Procs]),
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    [exit(P, kill) || P <- Procs],
    {Wall, Pongs}.

actor() ->
    receive
        {setup, Procs, Master, K} ->
            Others = lists:delete(self(), Procs),
            loop(Others, length(Others), Master, K, 0, 0)
    end.

%% RoundsLeft = 0: finished, only answering pings.
loop(Others, NO, Master, RoundsLeft, Pongs, Total) ->
    receive
        {ping, From} ->
            From ! pong,
            loop(Others, NO, Master, RoundsLeft, Pongs, Total);
        go ->
            ping_all(Others),
            loop(Others, NO, Master, RoundsLeft, 0, Total);
        pong when Pongs + 1 < NO ->
            loop(Others, NO, Master, RoundsLeft, Pongs + 1, Total + 1);
        pong when RoundsLeft > 1 ->
            ping_all(Others),
            loop(Others, NO, Master, RoundsLeft - 1, 0, Total + 1);
        pong ->
            Master ! {done, Total + 1},
            loop(Others, NO, Master, 0, 0, Total + 1)
    end.

ping_all(Others) ->
    Self = self(),
    lists:foreach(fun(P) -> P ! {ping, Self} end, Others).
