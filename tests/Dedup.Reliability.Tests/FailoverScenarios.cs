using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>
/// Scenario 18 (issue 10): a failover of the dedup Redis under traffic. The dedup Redis is a primary with one replica
/// (local processes), and the workers name both (<c>Redis__Configuration=primary,replica</c>). While payments and quote
/// requests with copies flow, the replica falls behind (its link cut for a second, as under load or a partition), the
/// primary is SIGKILLed, half a second later the replica is promoted (<c>REPLICAOF NO ONE</c>, as an operator or
/// Sentinel would; the workers' connections find it on their own), and a second after that the killed node comes back
/// empty as the new primary's replica (as Sentinel brings a returning primary back). Traffic goes on and drains.
/// </summary>
/// <remarks>
/// 18a runs the workers with <c>Dedup:Durability</c> (one replica, also after the claim): nothing may run twice, and the
/// copies of messages whose completions the promoted replica never got must take their confirmed claims over and be
/// answered by the ledger's takeover check. With one replica and <c>Replicas = 1</c> nothing is acknowledged between the
/// kill and the killed node's return (the promoted primary has no replica to confirm), so the traffic stalls that long.
/// 18b runs the same without the option and records, without failing on it, what the failover made run again (README,
/// "Guarantees").
/// </remarks>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(ReliabilityCollection.Name)]
public sealed class FailoverScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    static readonly TimeSpan TrafficTime = TimeSpan.FromSeconds(12);
    static readonly TimeSpan FaultAt = TimeSpan.FromSeconds(4);
    static readonly TimeSpan ReplicaBehind = TimeSpan.FromSeconds(1);
    static readonly TimeSpan PromoteAfter = TimeSpan.FromSeconds(0.5);
    static readonly TimeSpan RejoinAfter = TimeSpan.FromSeconds(1);
    const int UniquePerSecond = 40; // a fifth of them quote requests
    const double DuplicateShare = 0.4;

    [Fact]
    public async Task S18a_ReplicaFailoverUnderTraffic_WithDurability_NothingLost_NothingTwice()
    {
        await using var s = await Scenario.StartReplicatedAsync(cluster, output, "18a-redis-failover-durable (recovered)");
        var run = await RunAsync(s, durable: true);
        s.Check(run.NotReplicated > 0, $"until the killed node was back (the replica behind, then none), writes were not confirmed and their messages not acknowledged ({run.NotReplicated} not_replicated)");
        // Whether the kill caught claims whose completions the replica never got varies from run to run (5 of 5 runs
        // did, 8 recovered each; a CI run on 2026-12-01 caught none): an observation for the summary, not a check. The
        // checks that hold every run are FinishAsync's: nothing lost, nothing run twice, one quote per request.
        s.Log($"recovered by the takeover check after the failover: {run.Recovered} ({run.TakenOver} takeovers confirmed)");
        await s.FinishAsync(notes: run.Notes);
    }

    [Fact]
    public async Task S18b_ReplicaFailoverUnderTraffic_WithoutDurability_RunsWhatTheReplicaNeverGotAgain()
    {
        await using var s = await Scenario.StartReplicatedAsync(cluster, output, "18b-redis-failover-no-durability (forgets)");
        var run = await RunAsync(s, durable: false);

        // Documented, not a failure: a failover forgets what the replica never got, so a message may run a second time
        // (never a third: the promoted primary's records are the only ones left), and claims whose completion was lost
        // stay in progress on it until a copy takes them over or they expire.
        foreach (var id in s.ExpectedIds)
            s.AllowDuplicate(id, 1);
        s.Log($"without Durability: {run.Repeats} executions repeated, {run.Answers.Mismatched} of {run.Answers.Quotes} quotes answered with two numbers, {run.InProgress} claims left in progress");
        await s.FinishAsync(checkNoClaimInProgress: false, notes: run.Notes);
    }

    async Task<FailoverRun> RunAsync(Scenario s, bool durable)
    {
        (string, string)[] durability = durable
            ? [("Dedup__Durability__Replicas", "1"), ("Dedup__Durability__AfterClaim", "true"), ("Dedup__Durability__Timeout", "00:00:00.500")]
            : [];
        var pair = s.Replicated!;
        // Every message waits 200 ms between its consumer and its completion, so some completions are under way when the
        // replica falls behind; a message that failed during the failover is held at most 2 s before it goes back.
        (string, string)[] settings = [.. MixedTraffic.WorkerSettings, ("Dedup__MaxRedeliveryDelay", "00:00:02"), .. durability];
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        await s.WaitForConsumersAsync(2);
        await using var replies = await s.ListenForRepliesAsync("failover-replies");

        var clock = Stopwatch.StartNew();
        var mixed = new MixedTraffic(s, replies.Address, new Random(18));
        var traffic = mixed.RunAsync(TrafficTime, UniquePerSecond, DuplicateShare, CancellationToken.None);

        await Task.Delay(FaultAt);
        await pair.DetachReplicaAsync();
        s.Log($"replica cut off at {clock.Elapsed.TotalSeconds:F1} s: it falls behind the primary");
        await Task.Delay(ReplicaBehind);
        await pair.KillPrimaryAsync();
        var sinceKill = Stopwatch.StartNew();
        var resumed = TimeUntilNewWorkRunsAsync(s, sinceKill);
        await Task.Delay(PromoteAfter);
        await pair.PromoteReplicaAsync();
        var promoted = sinceKill.Elapsed;
        s.Log($"primary SIGKILLed at {clock.Elapsed.TotalSeconds:F1} s; replica promoted {promoted.TotalMilliseconds:F0} ms later ({pair.PrimaryConnectionString})");
        await Task.Delay(RejoinAfter);
        await pair.RejoinAsReplicaAsync();
        var rejoined = sinceKill.Elapsed;
        s.Log($"the killed node is back as the new primary's replica {rejoined.TotalSeconds:F1} s after the kill");
        var failover = await resumed;
        s.Log($"new work ran again {failover.TotalSeconds:F1} s after the kill");

        await traffic;
        s.Log($"traffic over after {clock.Elapsed.TotalSeconds:F1} s; draining");
        await s.DrainAsync(TimeSpan.FromSeconds(60), settle: TimeSpan.FromSeconds(3));

        // Without Durability a request that ran again may have been answered with a second quote number: counted, not checked.
        var answers = durable ? mixed.CheckAnswers(replies) : mixed.Answers(replies);
        var (takenOver, recovered, notReplicated) = (s.Outcomes("taken_over"), s.Outcomes("recovered"), s.Outcomes("not_replicated"));
        var (repeats, lost) = await s.RepeatsAndLostAsync();
        var inProgress = await s.KeysInProgressAsync();
        var notes = string.Create(CultureInfo.InvariantCulture,
            $"messages={s.Sent} requests={answers.Copies} lost={lost} repeats={repeats} mismatchedQuotes={answers.Mismatched} promotedMs={promoted.TotalMilliseconds:F0} rejoinedS={rejoined.TotalSeconds:F1} failoverS={failover.TotalSeconds:F1} takenOver={takenOver} recovered={recovered} notReplicated={notReplicated} leftInProgress={inProgress} seconds={clock.Elapsed.TotalSeconds:F0}");
        return new FailoverRun(answers, takenOver, recovered, notReplicated, repeats, inProgress, notes);
    }

    /// <summary>
    /// The failover as the traffic saw it: from the SIGKILL until a payment sent after it ran. A new probe payment goes
    /// out every 250 ms (a probe that failed is held for its redelivery delay; a newer one is not).
    /// </summary>
    static async Task<TimeSpan> TimeUntilNewWorkRunsAsync(Scenario s, Stopwatch sinceKill)
    {
        var probes = new List<Guid>();
        while (sinceKill.Elapsed < TimeSpan.FromSeconds(30))
        {
            var probe = Guid.NewGuid();
            probes.Add(probe);
            await s.SendPaymentAsync(probe);
            for (var poll = 0; poll < 5; poll++)
            {
                await Task.Delay(50);
                foreach (var id in probes)
                {
                    if ((await s.LedgerEntriesAsync(id.ToString())).Count > 0)
                        return sinceKill.Elapsed;
                }
            }
        }

        return sinceKill.Elapsed;
    }

    /// <summary>What one run measured; <see cref="Notes"/> is its line in the summary.</summary>
    sealed record FailoverRun(RequestAnswers Answers, int TakenOver, int Recovered, int NotReplicated, long Repeats, int InProgress, string Notes);
}
