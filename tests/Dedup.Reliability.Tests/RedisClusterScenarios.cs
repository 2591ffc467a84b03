using System.Diagnostics;
using System.Globalization;
using Dedup.Diagnostics;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>
/// Scenarios 19 to 21 (issue 11): the reliability subset on a Redis Cluster. Each scenario starts a local cluster of
/// three masters that holds the dedup records and the ledger (the worker's defaults on a cluster: every node in
/// <c>Redis__Configuration</c>, no <c>Ledger__Redis</c>); the checker reads the ledger per id from the cluster.
/// 19 and 20 are scenarios 2 and 3 run there; 21 fails a master over to its replica while traffic flows.
/// </summary>
/// <remarks>
/// What a master failover can lose: a manual <c>CLUSTER FAILOVER</c> (maintenance, an upgrade) lets the replica take
/// over only once it has every write its master acknowledged, so it loses nothing: with the takeover checks registered
/// (the worker's default) nothing may run twice, and 21 asserts it. An automatic failover after a master crashed may
/// lose its last acknowledged writes (replication is asynchronous): that is scenario 18b's case, on a cluster as on a
/// primary and replica, and not run here (README, "Redis Cluster").
/// </remarks>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(ReliabilityCollection.Name)]
public sealed class RedisClusterScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    static readonly TimeSpan TrafficTime = TimeSpan.FromSeconds(8);
    static readonly TimeSpan FailoverAt = TimeSpan.FromSeconds(3);
    const int UniquePerSecond = 40; // a fifth of them quote requests
    const double DuplicateShare = 0.4;

    [Fact]
    public async Task S19_OnACluster_ConcurrentDuplicatesAcrossThreeWorkers()
    {
        await using var s = await Scenario.StartClusterAsync(cluster, output, "19-cluster-concurrent-duplicates-3-workers");
        var notes = await CrashScenarios.ConcurrentDuplicatesAcrossThreeWorkersAsync(s);
        var records = await RecordsPerMasterAsync(s);
        s.Check(records.Count == 3 && records.All(n => n > 0), $"the records are spread over the three masters ({string.Join('/', records)})");
        await s.FinishAsync(notes: $"{notes} recordsPerMaster={string.Join('/', records)}");
    }

    [Fact]
    public async Task S20_OnACluster_KilledRightAfterClaim_AnotherTakesOverAfterTheLease()
    {
        await using var s = await Scenario.StartClusterAsync(cluster, output, "20-cluster-sigkill-after-claim");
        await s.FinishAsync(notes: await CrashScenarios.KilledRightAfterClaimAsync(s));
    }

    /// <summary>
    /// Payments, copies and quote requests flow through two workers (each completion held 200 ms after its consumer, as in
    /// scenarios 17 and 18, so completions are under way at the switch); 3 s in, once the master that holds the most keys
    /// holds claims in progress, its replica takes over with <c>CLUSTER FAILOVER</c>. Every id must be accounted for, nothing may run twice, every
    /// copy of a request must get its quote's one number, and the promoted master must go on taking the traffic.
    /// </summary>
    [Fact]
    public async Task S21_OnACluster_ManualMasterFailoverUnderTraffic_NothingLost_NothingTwice()
    {
        await using var s = await Scenario.StartClusterAsync(cluster, output, "21-cluster-master-failover", replicasPerMaster: 1);
        var redis = s.DedupCluster!;
        (string, string)[] settings = [.. MixedTraffic.WorkerSettings, ("Dedup__MaxRedeliveryDelay", "00:00:02")];
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        await s.WaitForConsumersAsync(2);
        await using var replies = await s.ListenForRepliesAsync("cluster-failover-replies");

        var clock = Stopwatch.StartNew();
        var mixed = new MixedTraffic(s, replies.Address, new Random(21));
        var traffic = mixed.RunAsync(TrafficTime, UniquePerSecond, DuplicateShare, CancellationToken.None);

        await Task.Delay(FailoverAt);
        var keys = await Task.WhenAll(redis.Masters.Select(m => s.DedupRedis.GetServer(m.EndPoint).DatabaseSizeAsync()));
        var busiest = Array.IndexOf(keys, keys.Max());
        var (master, replica) = (redis.Masters[busiest], redis.Replicas[busiest]);
        // Switch while the master holds claims whose completions are still to come (each waits 200 ms after its consumer).
        var inFlight = 0;
        for (var poll = Stopwatch.StartNew(); inFlight == 0 && poll.Elapsed < TimeSpan.FromSeconds(2);)
            inFlight = await s.KeysInProgressAsync(s.DedupRedis.GetServer(master.EndPoint));
        s.Log($"keys per master at {clock.Elapsed.TotalSeconds:F1} s: {string.Join('/', keys)}; claims in progress on {master}: {inFlight}; CLUSTER FAILOVER on its replica {replica}");
        var switching = Stopwatch.StartNew();
        await redis.FailoverAsync(replica);
        var failover = switching.Elapsed;
        var keysAtPromotion = await s.DedupRedis.GetServer(replica.EndPoint).DatabaseSizeAsync();
        s.Log($"every node sees {replica} as the master {failover.TotalMilliseconds:F0} ms later; it holds {keysAtPromotion} keys");
        s.Check(!traffic.IsCompleted, "the failover finished while the traffic still flowed");

        await traffic;
        s.Log($"traffic over after {clock.Elapsed.TotalSeconds:F1} s; draining");
        await s.DrainAsync(TimeSpan.FromSeconds(60), settle: TimeSpan.FromSeconds(3));

        var keysAtEnd = await s.DedupRedis.GetServer(replica.EndPoint).DatabaseSizeAsync();
        s.Check(await replica.IsMasterAsync() && !await master.IsMasterAsync(), $"{replica} is the master and {master} its replica");
        s.Check(keysAtEnd > keysAtPromotion, $"the promoted master took the traffic of its slots ({keysAtPromotion} keys at the promotion, {keysAtEnd} at the end)");
        var answers = mixed.CheckAnswers(replies);
        var (takenOver, recovered, storeErrors) = (s.Outcomes("taken_over"), s.Outcomes("recovered"), s.Workers.Sum(w => w.Count(DedupTelemetry.StoreErrors)));
        var (repeats, lost) = await s.RepeatsAndLostAsync();
        s.Check(repeats == 0, $"a manual failover loses no acknowledged write, so with the takeover checks registered nothing ran twice ({repeats} repeats)");
        var notes = string.Create(CultureInfo.InvariantCulture,
            $"messages={s.Sent} requests={answers.Copies} lost={lost} repeats={repeats} mismatchedQuotes={answers.Mismatched} failoverMs={failover.TotalMilliseconds:F0} claimsInProgressAtSwitch={inFlight} storeErrors={storeErrors} takenOver={takenOver} recovered={recovered} seconds={clock.Elapsed.TotalSeconds:F0}");
        await s.FinishAsync(notes: notes);
    }

    /// <summary>Dedup records (<c>dedup:*</c> keys) on each master, in node order.</summary>
    static async Task<List<int>> RecordsPerMasterAsync(Scenario s)
    {
        var counts = new List<int>();
        foreach (var master in await s.DedupPrimariesAsync())
        {
            var n = 0;
            await foreach (var _ in master.KeysAsync(pattern: "dedup:*"))
                n++;
            counts.Add(n);
        }

        return counts;
    }
}
