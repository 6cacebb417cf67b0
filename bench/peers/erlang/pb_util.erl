%% Shared helpers for the Erlang/OTP peer benchmarks (DESIGN.md §5): flag
%% parsing, the `result key=value` line, latency percentiles, a watchdog, and
%% starting the second node for the distributed modes.
-module(pb_util).
-export([parse/3, num/2, str/2, result/1, percentile_us/2, watchdog/1,
         fail/1, fail/2, sched_desc/0, with_nodes/2, ns/1,
         rss_kb/0, max_rss_kb/0]).

%% Flags arrive as plain arguments (after `-extra`). Defs = [{Name, Default,
%% Help}]; returns a map Name => string. Common flags are added here.
parse(Usage, Defs0, Args) ->
    Defs = Defs0 ++
        [{"workers", integer_to_list(erlang:system_info(schedulers_online)),
          "schedulers (erl +S W:W; set by the launcher)"},
         {"mode", "local", "local | distributed"},
         {"timeout", "600", "watchdog: abort after this many seconds"}],
    Init = maps:from_list([{K, D} || {K, D, _} <- Defs]),
    parse_args(Args, Init, Usage, Defs).

parse_args([], M, _, _) -> M;
parse_args([H | _], _, Usage, Defs) when H =:= "--help"; H =:= "-h" ->
    io:format("usage: ~s~n~n", [Usage]),
    [io:format("  --~-10s ~s (default: ~s)~n", [K, Help, D]) || {K, D, Help} <- Defs],
    halt(0);
parse_args(["--" ++ K, V | T], M, Usage, Defs) when is_map_key(K, M) ->
    parse_args(T, M#{K := V}, Usage, Defs);
parse_args([H | _], _, _, _) ->
    fail("unknown option or missing value: ~s (try --help)", [H]).

num(K, M) ->
    case string:to_integer(maps:get(K, M)) of
        {N, ""} when N >= 0 -> N;
        _ -> fail("--~s needs a non-negative integer", [K])
    end.

str(K, M) -> maps:get(K, M).

fail(Fmt) -> fail(Fmt, []).
fail(Fmt, Args) ->
    io:format(standard_error, "error: " ++ Fmt ++ "~n", Args),
    halt(1).

%% Kill the VM if the benchmark runs longer than Seconds.
watchdog(Seconds) ->
    spawn(fun() ->
                  timer:sleep(Seconds * 1000),
                  io:format(standard_error, "error: timed out after ~ps~n", [Seconds]),
                  halt(3)
          end).

%% Monotonic native time difference to nanoseconds.
ns(Native) -> erlang:convert_time_unit(Native, native, nanosecond).

%% KVs = [{Key, Value}] in output order; Value: string, integer or float.
%% max_rss_kb is added last.
result(KVs) ->
    io:format("# erlang ~s~n", [sched_desc()]),
    Line = ["result" | [[" ", K, "=", fmt(V)] || {K, V} <- KVs ++ [{"max_rss_kb", max_rss_kb()}]]],
    io:format("~s~n", [Line]).

fmt(V) when is_integer(V) -> integer_to_list(V);
fmt(V) when is_float(V) -> float_to_list(V, [{decimals, 6}, compact]);
fmt(V) when is_atom(V) -> atom_to_list(V);
fmt(V) -> V.

sched_desc() ->
    io_lib:format("sched=beam schedulers=~p otp=~s emu=~p",
                  [erlang:system_info(schedulers_online),
                   erlang:system_info(otp_release),
                   erlang:system_info(emu_flavor)]).

%% Nearest-rank percentile of a sorted tuple of nanosecond samples, in us.
percentile_us(Sorted, P) ->
    N = tuple_size(Sorted),
    Rank = min(N, max(1, ceil(P / 100 * N))),
    element(Rank, Sorted) / 1000.

%% Distributed modes: start a peer node on 127.0.0.1 with the same cookie,
%% code path and scheduler count, run Fun(PeerNode), stop the peer.
with_nodes(Workers, Fun) ->
    node() =/= nonode@nohost orelse fail("distributed mode needs a named node"),
    Name = "pb_srv_" ++ os:getpid(),
    Args = ["-setcookie", atom_to_list(erlang:get_cookie()),
            "+S", io_lib:format("~p:~p", [Workers, Workers]),
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-pa", filename:dirname(code:which(?MODULE))],
    {ok, Peer, Node} = peer:start_link(#{name => Name, host => "127.0.0.1",
                                         longnames => true,
                                         args => [lists:flatten(A) || A <- Args]}),
    try Fun(Node) after peer:stop(Peer) end.

%% The VM's resident set in KiB, now (VmRSS) and at its peak (VmHWM, what
%% getrusage's ru_maxrss reports), from /proc/self/status; -1 if unknown.
rss_kb() -> proc_status_kb(<<"VmRSS:">>).
max_rss_kb() -> proc_status_kb(<<"VmHWM:">>).

proc_status_kb(Key) ->
    case file:read_file("/proc/self/status") of
        {ok, Bin} ->
            Lines = binary:split(Bin, <<"\n">>, [global]),
            case [L || L <- Lines, binary:match(L, Key) =:= {0, byte_size(Key)}] of
                [L | _] ->
                    [_, V | _] = binary:split(L, [<<" ">>, <<"\t">>], [global, trim_all]),
                    binary_to_integer(V);
                [] -> -1
            end;
        _ -> -1
    end.
