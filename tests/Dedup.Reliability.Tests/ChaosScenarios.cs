using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>
/// Scenario 17 (issue 10): chaos. Three workers on one set of queues, payments with duplicate copies and quote requests
/// with duplicate requests flowing, and a random worker SIGKILLed and restarted every few seconds. With the ledger's
/// takeover checks nothing may run twice and every copy of a request must get the original's quote.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class ChaosScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    static readonly TimeSpan ChaosTime = TimeSpan.FromSeconds(32);
    static readonly TimeSpan TrafficTime = TimeSpan.FromSeconds(30);
    const int UniquePerSecond = 60; // a fifth of them quote requests
    const double DuplicateShare = 0.4;

    [Fact]
    public async Task S17_Chaos_RandomWorkerKilledEveryFewSeconds_NothingLost_NothingTwice_EveryCopyOfARequestGetsTheSameQuote()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "17-chaos-sigkill-every-few-seconds");
        // Every message waits 200 ms between its consumer (the ledger write, the reply sent) and its completion (a test
        // hook): the window the kills must hit.
        (string, string)[] settings =
        [
            ("Worker__PaymentWorkTime", "00:00:00.050"), ("Worker__QuoteWorkTime", "00:00:00.020"),
            ("Worker__Faults__PaymentId", "*"), ("Worker__Faults__PauseBeforeComplete", "00:00:00.200"),
        ];
        var running = new List<WorkerProcess> { s.StartWorker("w1", settings), s.StartWorker("w2", settings), s.StartWorker("w3", settings) };
        await s.WaitForConsumersAsync(3);
        await using var replies = await s.ListenForRepliesAsync("chaos-replies");

        var random = new Random(17);
        var requests = new List<(string QuoteId, Guid RequestId)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var traffic = SendTrafficAsync(s, replies.Address, random, requests, stop.Token);

        // The killer: every 2 to 4 s a random worker gets SIGKILL and a new one starts in its place.
        var kills = 0;
        var started = 3;
        while (clock.Elapsed < ChaosTime)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 4000)));
            var victim = running[random.Next(running.Count)];
            victim.Signal(WorkerProcess.SigKill);
            await victim.WaitForExitAsync(TimeSpan.FromSeconds(10));
            kills++;
            running.Remove(victim);
            running.Add(s.StartWorker($"w{++started}", settings));
            s.Log($"SIGKILL {victim.Name} (pid {victim.Id}) at {clock.Elapsed.TotalSeconds:F1} s; started w{started}");
        }

        await traffic;
        s.Log($"chaos over after {clock.Elapsed.TotalSeconds:F1} s: {kills} kills; draining");
        await s.DrainAsync(TimeSpan.FromSeconds(60), settle: TimeSpan.FromSeconds(3));

        // Every copy of every request answered, and only ever with its quote's one number.
        var unanswered = requests.Count(r => replies.RepliesTo(r.RequestId).Count == 0);
        var numbers = requests.GroupBy(r => r.QuoteId).ToDictionary(
            g => g.Key,
            g => g.SelectMany(r => replies.RepliesTo(r.RequestId)).Select(reply => reply.QuoteNumber).Distinct().Count());
        var mismatched = numbers.Count(n => n.Value > 1);
        var recovered = s.Workers.Sum(w => w.Count("outcome=recovered"));
        var takenOver = s.Workers.Sum(w => w.Count("outcome=taken_over"));
        var counts = await s.LedgerCountsAsync();
        var repeats = counts.Values.Sum(n => Math.Max(0, n - 1));
        var lost = s.ExpectedIds.Count(id => !counts.ContainsKey(id) && !s.Errors.ContainsKey(id));
        s.Check(kills >= (int)(ChaosTime.TotalSeconds / 4), $"a worker was killed every few seconds ({kills} kills in {ChaosTime.TotalSeconds:F0} s)");
        s.Check(unanswered == 0, $"every copy of every request was answered ({unanswered} of {requests.Count} not)");
        s.Check(mismatched == 0, $"every copy of a request got the original's quote number ({mismatched} of {numbers.Count} quotes answered with two numbers)");
        s.Check(recovered > 0, $"kills hit the window between a side effect and its completion, and the takeover check recovered them ({recovered} recovered of {takenOver} takeovers)");
        s.Log($"replies {replies.Total} to {requests.Count} request copies");

        var notes = string.Create(CultureInfo.InvariantCulture,
            $"kills={kills} messages={s.Sent} requests={requests.Count} lost={lost} repeats={repeats} mismatchedQuotes={mismatched} takenOver={takenOver} recovered={recovered} seconds={clock.Elapsed.TotalSeconds:F0}");
        var result = await s.FinishAsync(notes: notes);
        s.Log($"chaos: kills={kills} messages={result.Sent} lost={result.Lost} repeats={result.DuplicateExecutions} mismatched={mismatched} recovered={recovered}");
    }

    /// <summary>
    /// For <see cref="TrafficTime"/>: each tenth of a second a few new payments and quote requests, and the copies that
    /// are due: a share of the messages is sent again, at once (meeting the original in flight) or up to 3 s later
    /// (meeting its record, or a claim whose owner was killed).
    /// </summary>
    static async Task SendTrafficAsync(Scenario s, Uri replyAddress, Random random, List<(string QuoteId, Guid RequestId)> requests, CancellationToken cancellationToken)
    {
        var copies = new PriorityQueue<Func<Task>, TimeSpan>();
        var clock = Stopwatch.StartNew();
        var sequence = 0;
        while (clock.Elapsed < TrafficTime || copies.Count > 0)
        {
            if (clock.Elapsed < TrafficTime)
            {
                for (var i = 0; i < UniquePerSecond / 10; i++)
                {
                    var send = NewMessage(s, replyAddress, random, requests, sequence++);
                    await send();
                    if (random.NextDouble() < DuplicateShare)
                        copies.Enqueue(send, clock.Elapsed + TimeSpan.FromMilliseconds(random.NextDouble() < 0.3 ? 0 : random.Next(100, 3000)));
                }
            }

            while (copies.TryPeek(out var copy, out var due) && due <= clock.Elapsed)
            {
                copies.Dequeue();
                await copy();
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>One new message, as a function that sends it (again, for a copy).</summary>
    static Func<Task> NewMessage(Scenario s, Uri replyAddress, Random random, List<(string QuoteId, Guid RequestId)> requests, int sequence)
    {
        if (random.NextDouble() >= 0.2)
        {
            var payment = Guid.NewGuid();
            return () => s.SendPaymentAsync(payment);
        }

        // A requester that retries sends the request again with the same MessageId (the dedup key) and a new RequestId.
        var quoteId = $"q-{sequence}";
        var messageId = Guid.NewGuid();
        return () =>
        {
            var requestId = Guid.NewGuid();
            lock (requests)
                requests.Add((quoteId, requestId));
            return s.SendQuoteRequestAsync(quoteId, messageId, requestId, replyAddress);
        };
    }
}
