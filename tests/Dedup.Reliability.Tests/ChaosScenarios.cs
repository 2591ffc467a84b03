using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>
/// Scenario 17 (issue 10): chaos. Three workers on one set of queues, payments with duplicate copies and quote requests
/// with duplicate requests flowing, and a random worker SIGKILLed and restarted every few seconds. With the ledger's
/// takeover checks nothing may run twice and every copy of a request must get the original's quote.
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
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
        // Every message waits 200 ms between its consumer and its completion: the window the kills must hit.
        var settings = MixedTraffic.WorkerSettings;
        var running = new List<WorkerProcess> { s.StartWorker("w1", settings), s.StartWorker("w2", settings), s.StartWorker("w3", settings) };
        await s.WaitForConsumersAsync(3);
        await using var replies = await s.ListenForRepliesAsync("chaos-replies");

        var random = new Random(17);
        var mixed = new MixedTraffic(s, replies.Address, random);
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var traffic = mixed.RunAsync(TrafficTime, UniquePerSecond, DuplicateShare, stop.Token);

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

        var recovered = s.Outcomes("recovered");
        var takenOver = s.Outcomes("taken_over");
        var (repeats, lost) = await s.RepeatsAndLostAsync();
        s.Check(kills >= (int)(ChaosTime.TotalSeconds / 4), $"a worker was killed every few seconds ({kills} kills in {ChaosTime.TotalSeconds:F0} s)");
        var answers = mixed.CheckAnswers(replies);
        s.Check(recovered > 0, $"kills hit the window between a side effect and its completion, and the takeover check recovered them ({recovered} recovered of {takenOver} takeovers)");

        var notes = string.Create(CultureInfo.InvariantCulture,
            $"kills={kills} messages={s.Sent} requests={answers.Copies} lost={lost} repeats={repeats} mismatchedQuotes={answers.Mismatched} takenOver={takenOver} recovered={recovered} seconds={clock.Elapsed.TotalSeconds:F0}");
        var result = await s.FinishAsync(notes: notes);
        s.Log($"chaos: kills={kills} messages={result.Sent} lost={result.Lost} repeats={result.DuplicateExecutions} mismatched={answers.Mismatched} recovered={recovered}");
    }
}
