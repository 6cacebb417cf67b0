%% actor_creation (CAF's benchmark suite), Erlang/OTP 25 peer.
%%
%% A process told to create at depth D > 0 spawns two children, each of
%% which creates at depth D-1; at depth 0 it answers 1. A parent adds its
%% children's answers and passes the sum up (with the number of processes in
%% its subtree), then ends. The root's sum must be 2^D and 2^(D+1)-1
%% processes must have been spawned; a mismatch exits non-zero. The launcher
%% raises the process limit (+P).
-module(pb_actor_creation).
-export([main/0]).

main() ->
    O = pb_util:parse("actor_creation [--depth D] [--workers W]",
                      [{"depth", "20", "tree depth D: 2^D leaves, 2^(D+1)-1 processes"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [D, Workers] = [pb_util:num(X, O) || X <- ["depth", "workers"]],
    D =< 30 orelse pb_util:fail("need depth <= 30"),
    pb_util:str("mode", O) =:= "local" orelse
        pb_util:fail("actor_creation runs in local mode only"),
    Self = self(),
    T0 = erlang:monotonic_time(),
    spawn(fun() -> node(Self, D) end),
    {Sum, Count} = receive {result, S, C} -> {S, C} end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Actors = (2 bsl D) - 1,
    Sum =:= 1 bsl D orelse pb_util:fail("wrong sum ~p", [Sum]),
    Count =:= Actors orelse pb_util:fail("~p processes spawned", [Count]),
    pb_util:result([{"bench", "actor_creation"}, {"system", "erlang"}, {"mode", "local"},
                    {"depth", D}, {"workers", Workers}, {"actors", Actors}, {"sum", Sum},
                    {"wall_s", Wall}, {"spawns_per_s", round(Actors / Wall)},
                    {"msgs_per_s", round(2 * Actors / Wall)}]),
    halt(0).

node(Parent, 0) ->
    Parent ! {result, 1, 1};
node(Parent, D) ->
    Self = self(),
    spawn(fun() -> node(Self, D - 1) end),
    spawn(fun() -> node(Self, D - 1) end),
    receive
        {result, S1, C1} ->
            receive {result, S2, C2} -> Parent ! {result, S1 + S2, 1 + C1 + C2} end
    end.
