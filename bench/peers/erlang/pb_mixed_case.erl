%% mixed_case (CAF's benchmark suite), Erlang/OTP 25 peer: compute mixed
%% with messaging.
%%
%% R rings of A processes each: a master and A-1 links. The master sends a
%% token with value K around its ring; a link passes it on (and ends once it
%% has passed on 0); the master, each time the token is back with a value
%% v > 0, asks its ring's worker to factor a fixed number N by trial division
%% and sends the token round again with v-1. A ring is done when the token is
%% back with 0 and the worker has answered all K requests. Every answer is
%% checked: its factors multiply to N and are the same each time; a mismatch
%% exits non-zero. Messages = R (A (K+1) + 2 K).
-module(pb_mixed_case).
-export([main/0]).

main() ->
    O = pb_util:parse("mixed_case [--rings R] [--ring-size A] [--laps K] [--number N]",
                      [{"rings", "20", "rings R"},
                       {"ring-size", "50", "actors per ring A (a master and A-1 links)"},
                       {"laps", "1000", "laps K of each ring's token; one factorization per lap"},
                       {"number", "100160063", "the number N to factor (default 10007 * 10009)"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [R, A, K, N, Workers] =
        [pb_util:num(X, O) || X <- ["rings", "ring-size", "laps", "number", "workers"]],
    (R >= 1 andalso A >= 2 andalso K >= 1 andalso N >= 2) orelse
        pb_util:fail("need rings >= 1, ring-size >= 2, laps >= 1, number >= 2"),
    pb_util:str("mode", O) =:= "local" orelse
        pb_util:fail("mixed_case runs in local mode only"),
    Self = self(),
    T0 = erlang:monotonic_time(),
    [spawn(fun() -> master(Self, A, K, N) end) || _ <- lists:seq(1, R)],
    [receive ring_done -> ok end || _ <- lists:seq(1, R)],
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Msgs = R * (A * (K + 1) + 2 * K),
    pb_util:result([{"bench", "mixed_case"}, {"system", "erlang"}, {"mode", "local"},
                    {"rings", R}, {"ring_size", A}, {"laps", K}, {"number", N},
                    {"workers", Workers}, {"msgs", Msgs}, {"wall_s", Wall},
                    {"msgs_per_s", round(Msgs / Wall)}]),
    halt(0).

master(Main, A, K, N) ->
    %% The ring, built backwards: the last link passes to the master.
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_link(Next) end) end,
                        self(), lists:seq(1, A - 1)),
    Worker = spawn(fun() -> worker(N) end),
    First ! {token, K},
    master_loop(Main, First, Worker, N, K, 0, false, none).

master_loop(Main, _, Worker, _, K, K, true, _) ->
    Worker ! stop,
    Main ! ring_done;
master_loop(Main, First, Worker, N, K, Answers, Back, Factors) ->
    receive
        {token, 0} ->
            master_loop(Main, First, Worker, N, K, Answers, true, Factors);
        {token, V} ->
            Worker ! {factor, self()},
            First ! {token, V - 1},
            master_loop(Main, First, Worker, N, K, Answers, Back, Factors);
        {factors, F} ->
            (F =/= [] andalso lists:foldl(fun erlang:'*'/2, 1, F) =:= N) orelse
                pb_util:fail("the factors do not multiply to ~p", [N]),
            (Factors =:= none orelse Factors =:= F) orelse
                pb_util:fail("two answers differ"),
            master_loop(Main, First, Worker, N, K, Answers + 1, Back, F)
    end.

ring_link(Next) ->
    receive
        {token, 0} -> Next ! {token, 0};
        {token, V} -> Next ! {token, V}, ring_link(Next)
    end.

worker(N) ->
    receive
        {factor, From} -> From ! {factors, factorize(N, 2, [])}, worker(N);
        stop -> ok
    end.

factorize(N, D, Acc) when D * D > N ->
    lists:reverse(case N > 1 of true -> [N | Acc]; false -> Acc end);
factorize(N, D, Acc) when N rem D =:= 0 -> factorize(N div D, D, [D | Acc]);
factorize(N, D, Acc) -> factorize(N, D + 1, Acc).
