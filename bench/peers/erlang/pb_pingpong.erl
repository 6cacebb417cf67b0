%% pingpong (DESIGN.md §5), Erlang/OTP 25 peer.
%%
%% P pairs; each pinger sends {ping, self(), Payload} (an S-byte binary) and
%% its ponger answers {pong, Payload}, R times, one round trip in flight per
%% pair. Messages/s counts 2 per round trip; latency is the time from one pong
%% to the next as the pinger sees it. Binaries over 64 bytes are reference
%% counted in Erlang, so locally the payload is shared, not copied: that is
%% how an Erlang programmer would send it.
%%
%% Distributed: the pongers run on a second node (peer, 127.0.0.1).
-module(pb_pingpong).
-export([main/0, ponger/0]).

main() ->
    O = pb_util:parse("pingpong [--pairs P] [--rounds R] [--size S] [--workers W] "
                      "[--mode local|distributed]",
                      [{"pairs", "1", "ping/pong pairs P"},
                       {"rounds", "100000", "round trips per pair R"},
                       {"size", "0", "payload bytes S"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [Pairs, Rounds, Size, Workers] =
        [pb_util:num(K, O) || K <- ["pairs", "rounds", "size", "workers"]],
    (Pairs >= 1 andalso Rounds >= 1) orelse pb_util:fail("pairs and rounds must be >= 1"),
    Mode = pb_util:str("mode", O),
    Run = fun(Node) -> run(Node, Pairs, Rounds, Size) end,
    {Wall, Lat} = case Mode of
                      "local" -> Run(node());
                      "distributed" -> pb_util:with_nodes(Workers, Run);
                      _ -> pb_util:fail("--mode must be local or distributed")
                  end,
    tuple_size(Lat) =:= Pairs * Rounds orelse pb_util:fail("missing latency samples"),
    P = fun(X) -> pb_util:percentile_us(Lat, X) end,
    pb_util:result([{"bench", "pingpong"}, {"system", "erlang"}, {"mode", Mode},
                    {"pairs", Pairs}, {"rounds", Rounds}, {"size", Size},
                    {"workers", Workers}, {"sched", "beam"},
                    {"wall_s", Wall},
                    {"msgs_per_s", round(2 * Pairs * Rounds / Wall)},
                    {"p50_us", P(50)}, {"p99_us", P(99)}, {"p999_us", P(99.9)},
                    {"max_us", element(tuple_size(Lat), Lat) / 1000}]),
    halt(0).

run(Node, Pairs, Rounds, Size) ->
    Payload = binary:copy(<<"x">>, Size),
    Self = self(),
    Pongers = [spawn_link(Node, ?MODULE, ponger, []) || _ <- lists:seq(1, Pairs)],
    Pingers = [spawn_link(fun() -> pinger_init(Po, Payload, Rounds, Self) end)
               || Po <- Pongers],
    T0 = erlang:monotonic_time(),
    [Pi ! start || Pi <- Pingers],
    [receive {done, Pi} -> ok end || Pi <- Pingers],
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    %% Samples are collected after the clock stopped: copying them is not measured.
    Samples = lists:append([receive {samples, Pi, L} -> L end || Pi <- Pingers]),
    [exit(Po, kill) || Po <- Pongers],
    {Wall, list_to_tuple(lists:sort(Samples))}.

ponger() ->
    receive
        {ping, From, Payload} -> From ! {pong, Payload}, ponger()
    end.

pinger_init(Ponger, Payload, Rounds, Parent) ->
    receive start -> ok end,
    Acc = pinger(Ponger, Payload, byte_size(Payload), Rounds,
                 erlang:monotonic_time(), []),
    Parent ! {done, self()},
    Parent ! {samples, self(), [pb_util:ns(D) || D <- Acc]}.

pinger(_, _, _, 0, _, Acc) -> Acc;
pinger(Ponger, Payload, Size, N, Last, Acc) ->
    Ponger ! {ping, self(), Payload},
    receive
        {pong, Echo} when byte_size(Echo) =:= Size ->
            Now = erlang:monotonic_time(),
            pinger(Ponger, Payload, Size, N - 1, Now, [Now - Last | Acc])
    end.
