%% chameneos (Savina), Erlang/OTP 25 peer: C chameneos meet through a mall, N
%% meetings in all. Each chameneo sends {meet, Color, Self} to the mall; the
%% mall keeps the first of two waiting and forwards the second one's meet to
%% it; that one takes the complement of the two colors, answers the other
%% with {change, Color} and both go back to the mall. After N meetings the
%% mall answers every meet with exit; a chameneo then reports its meeting
%% count and ends. The counts must add up to 2 N.
-module(pb_chameneos).
-export([main/0]).

main() ->
    O = pb_util:parse("chameneos [--chameneos C] [--meetings N] [--workers W]",
                      [{"chameneos", "100", "chameneos C"},
                       {"meetings", "200000", "meetings N"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [C, N, Workers] = [pb_util:num(X, O) || X <- ["chameneos", "meetings", "workers"]],
    C >= 2 orelse pb_util:fail("need chameneos >= 2"),
    pb_util:str("mode", O) =:= "local" orelse pb_util:fail("chameneos runs in local mode only"),
    Self = self(),
    Mall = spawn(fun() -> mall(Self, N, C, 0, 0, 0, none) end),
    Cham = [spawn(fun() -> receive start -> go(Mall, I rem 3, 0) end end)
            || I <- lists:seq(0, C - 1)],
    T0 = erlang:monotonic_time(),
    [P ! start || P <- Cham],
    Sum = receive {done, S} -> S end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Sum =:= 2 * N orelse pb_util:fail("~p meetings counted", [Sum]),
    pb_util:result([{"bench", "chameneos"}, {"system", "erlang"}, {"mode", "local"},
                    {"chameneos", C}, {"meetings", N}, {"workers", Workers},
                    {"wall_s", Wall}, {"msgs_per_s", round((4 * N + 3 * C) / Wall)}]),
    halt(0).

mall(Main, _, C, _, C, Sum, _) ->
    Main ! {done, Sum};
mall(Main, Max, C, Meetings, Faded, Sum, Waiting) ->
    receive
        {meet, _, Who} when Meetings =:= Max ->
            Who ! exit,
            mall(Main, Max, C, Meetings, Faded, Sum, Waiting);
        {meet, _, _} = M when Waiting =:= none ->
            mall(Main, Max, C, Meetings, Faded, Sum, M);
        {meet, _, _} = M ->
            {meet, _, W} = Waiting,
            W ! M,
            mall(Main, Max, C, Meetings + 1, Faded, Sum, none);
        {count, K} ->
            mall(Main, Max, C, Meetings, Faded + 1, Sum + K, Waiting)
    end.

go(Mall, Color, Meetings) ->
    Mall ! {meet, Color, self()},
    chameneo(Mall, Color, Meetings).

chameneo(Mall, Color, Meetings) ->
    receive
        {meet, Other, Who} ->
            New = complement(Color, Other),
            Who ! {change, New},
            go(Mall, New, Meetings + 1);
        {change, New} ->
            go(Mall, New, Meetings + 1);
        exit ->
            Mall ! {count, Meetings}
    end.

complement(A, A) -> A;
complement(A, B) -> 3 - A - B.
