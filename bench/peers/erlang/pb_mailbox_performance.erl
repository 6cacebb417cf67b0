%% mailbox_performance (CAF's benchmark suite), Erlang/OTP 25 peer.
%%
%% S sender processes each send M messages to one receiver as fast as they
%% can, all at once. Each message carries the sender's index and a sequence
%% number; the receiver checks that every sender's messages arrive complete
%% and in order (next sequence numbers in its process dictionary). The
%% receiver keeps the default (on-heap) message queue, as a plain program
%% would.
-module(pb_mailbox_performance).
-export([main/0]).

main() ->
    O = pb_util:parse("mailbox_performance [--senders S] [--msgs M] [--workers W]",
                      [{"senders", "20", "senders S"},
                       {"msgs", "400000", "messages per sender M"}],
                      init:get_plain_arguments()),
    pb_util:watchdog(pb_util:num("timeout", O)),
    [S, M, Workers] = [pb_util:num(X, O) || X <- ["senders", "msgs", "workers"]],
    (S >= 1 andalso M >= 1) orelse pb_util:fail("need senders >= 1, msgs >= 1"),
    pb_util:str("mode", O) =:= "local" orelse
        pb_util:fail("mailbox_performance runs in local mode only"),
    Self = self(),
    Recv = spawn(fun() -> receiver(Self, S, M) end),
    Senders = [spawn(fun() -> receive start -> send_loop(Recv, I, 0, M) end end)
               || I <- lists:seq(0, S - 1)],
    T0 = erlang:monotonic_time(),
    [P ! start || P <- Senders],
    receive {done, Recv} -> ok end,
    Wall = pb_util:ns(erlang:monotonic_time() - T0) / 1.0e9,
    Total = S * M,
    pb_util:result([{"bench", "mailbox_performance"}, {"system", "erlang"},
                    {"mode", "local"}, {"senders", S}, {"msgs", M}, {"workers", Workers},
                    {"total", Total}, {"wall_s", Wall}, {"msgs_per_s", round(Total / Wall)}]),
    halt(0).

send_loop(_, _, M, M) -> ok;
send_loop(Recv, I, N, M) ->
    Recv ! {I, N},
    send_loop(Recv, I, N + 1, M).

receiver(Main, S, M) ->
    [put(I, 0) || I <- lists:seq(0, S - 1)],
    receive_loop(S * M),
    [get(I) =:= M orelse pb_util:fail("sender ~p: ~p messages", [I, get(I)])
     || I <- lists:seq(0, S - 1)],
    Main ! {done, self()}.

receive_loop(0) -> ok;
receive_loop(Left) ->
    receive
        {I, N} ->
            case put(I, N + 1) of
                N -> receive_loop(Left - 1);
                _ -> pb_util:fail("message out of order or from nowhere")
            end
    end.
