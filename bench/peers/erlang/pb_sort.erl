%% sort (divide and conquer, DESIGN.md §5), Erlang/OTP 25 peer.
%%
%% A process given more than T elements splits its list, spawns a child per
%% half (the half is copied to the child, as a message would be), waits for
%% both sorted halves and merges them (lists:merge/2); at T or fewer it uses
%% lists:sort/1. Each reply carries the number of processes in its subtree so
%% the count can be checked.
%%
%% Input: L ints from splitmix64 with a fixed seed, value = X bsr 33: the same
%% list as the CAF and libactor versions, and the same checksum = sum over i of
%% (i+1) * Sorted[i] mod 2^64. The result is checked against lists:sort/1.
-module(pb_sort).
-export([main/0]).

-define(M64, 16#FFFFFFFFFFFFFFFF).

main() ->
    O = pb_util:parse("sort [--length L] [--threshold T] [--workers W] [--seed S]",
                      [{"length", "100000", "list length L"},
                       {"threshold", "64", "sort sequentially at or below T elements"},
                       {"seed", "42", "splitmix64 seed of the input"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [L, T, Workers, Seed] =
        [pb_util:num(X, O) || X <- ["length", "threshold", "workers", "seed"]],
    (L >= 1 andalso T >= 1) orelse pb_util:fail("length and threshold must be >= 1"),
    pb_util:str("mode", O) =:= "local" orelse pb_util:fail("sort runs in local mode only"),
    Input = gen(L, Seed, []),
    Reference = lists:sort(Input),
    Self = self(),
    T0 = erlang:monotonic_time(),
    spawn_link(fun() -> sorter(Self, root, Input, L, T) end),
    {Out, Spawned} = receive {root, S, C} -> {S, C} end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Out =:= Reference orelse pb_util:fail("output is not the sorted input"),
    Spawned =:= expected(L, T) orelse pb_util:fail("unexpected process count ~p", [Spawned]),
    pb_util:result([{"bench", "sort"}, {"system", "erlang"}, {"mode", "local"},
                    {"length", L}, {"threshold", T}, {"workers", Workers},
                    {"sched", "beam"}, {"spawned", Spawned}, {"wall_s", Wall},
                    {"spawns_per_s", round(Spawned / Wall)},
                    {"msgs_per_s", round(2 * Spawned / Wall)},
                    {"checksum", integer_to_list(checksum(Out, 1, 0))}]),
    halt(0).

sorter(Parent, Tag, List, Len, T) when Len =< T ->
    Parent ! {Tag, lists:sort(List), 1};
sorter(Parent, Tag, List, Len, T) ->
    Half = Len div 2,
    {Left, Right} = lists:split(Half, List),
    Self = self(),
    spawn_link(fun() -> sorter(Self, left, Left, Half, T) end),
    spawn_link(fun() -> sorter(Self, right, Right, Len - Half, T) end),
    receive {left, SL, CL} ->
            receive {right, SR, CR} ->
                    Parent ! {Tag, lists:merge(SL, SR), 1 + CL + CR}
            end
    end.

expected(N, T) when N =< T -> 1;
expected(N, T) -> 1 + expected(N div 2, T) + expected(N - N div 2, T).

%% splitmix64; the list is built back to front, then reversed.
gen(0, _, Acc) -> lists:reverse(Acc);
gen(N, X0, Acc) ->
    X = (X0 + 16#9e3779b97f4a7c15) band ?M64,
    Z1 = ((X bxor (X bsr 30)) * 16#bf58476d1ce4e5b9) band ?M64,
    Z2 = ((Z1 bxor (Z1 bsr 27)) * 16#94d049bb133111eb) band ?M64,
    Z = Z2 bxor (Z2 bsr 31),
    gen(N - 1, X, [Z bsr 33 | Acc]).

checksum([], _, Sum) -> Sum;
checksum([V | T], I, Sum) -> checksum(T, I + 1, (Sum + I * V) band ?M64).
