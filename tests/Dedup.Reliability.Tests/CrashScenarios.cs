using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>Scenarios 1 to 7: duplicates, crashes at each point of the protocol, lost connections, a frozen worker.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(ReliabilityCollection.Name)]
public sealed class CrashScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    internal static List<Guid> Ids(int n) => [.. Enumerable.Range(0, n).Select(_ => Guid.NewGuid())];

    [Fact]
    public async Task S01_SameIdThreeTimesSpacedOut()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "1-same-id-three-times-spaced");
        s.StartWorker("w1");
        await s.WaitForConsumersAsync(1);
        var ids = Ids(20);
        for (var round = 0; round < 3; round++)
        {
            foreach (var id in ids)
                await s.SendPaymentAsync(id);
            await Task.Delay(TimeSpan.FromSeconds(1)); // spaced out: each later copy meets a completed record
        }

        await s.DrainAsync(TimeSpan.FromSeconds(60));
        s.Check(s.Workers[0].Count("outcome=duplicate") + s.Workers[0].Count("outcome=in_flight_waited") >= 40, "the 40 later copies were skipped as duplicates");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S02_ConcurrentDuplicatesAcrossThreeWorkers()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "2-concurrent-duplicates-3-workers");
        await s.FinishAsync(notes: await ConcurrentDuplicatesAcrossThreeWorkersAsync(s));
    }

    /// <summary>
    /// Scenario 2's traffic and checks, on whatever dedup Redis <paramref name="s"/> has (scenario 19 runs it on a Redis
    /// Cluster): 60 payments, 8 adjacent copies each, over three workers. Returns the scenario's figures for its notes.
    /// </summary>
    internal static async Task<string> ConcurrentDuplicatesAcrossThreeWorkersAsync(Scenario s)
    {
        var clock = Stopwatch.StartNew();
        var settings = new[] { ("Worker__PrefetchCount", "64"), ("Worker__ConcurrentMessageLimit", "32"), ("Worker__PaymentWorkTime", "00:00:00.050") };
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        s.StartWorker("w3", settings);
        await s.WaitForConsumersAsync(3);
        var ids = Ids(60);
        foreach (var id in ids)
            await s.SendPaymentAsync(id, copies: 8); // adjacent copies: they arrive together at different workers

        await s.DrainAsync(TimeSpan.FromSeconds(90));
        var waited = s.Outcomes("in_flight_waited");
        s.Log($"in-flight waits: {waited}");
        return string.Create(CultureInfo.InvariantCulture, $"inFlightWaits={waited} seconds={clock.Elapsed.TotalSeconds:F0}");
    }

    [Fact]
    public async Task S03_KilledRightAfterClaim_AnotherTakesOverAfterTheLease()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "3-sigkill-after-claim");
        await s.FinishAsync(notes: await KilledRightAfterClaimAsync(s));
    }

    /// <summary>
    /// Scenario 3's fault and checks, on whatever dedup Redis <paramref name="s"/> has (scenario 20 runs it on a Redis
    /// Cluster): a worker SIGKILLs itself right after claiming the victim; two others start and one takes the victim over
    /// after the lease and runs it once. Returns the scenario's figures for its notes.
    /// </summary>
    internal static async Task<string> KilledRightAfterClaimAsync(Scenario s)
    {
        var clock = Stopwatch.StartNew();
        var victim = Guid.NewGuid();
        var a = s.StartWorker("a-faulty", ("Worker__Faults__Kill", "AfterClaim"), ("Worker__Faults__PaymentId", victim.ToString()),
            ("Worker__PrefetchCount", "1"), ("Worker__ConcurrentMessageLimit", "1"));
        await s.WaitForConsumersAsync(1);
        await s.SendPaymentAsync(victim);
        var others = Ids(40);
        await s.SendPaymentsAsync(others, copies: 2);
        Assert.True(await a.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the faulty worker did not kill itself");
        s.Log("worker a killed itself after the claim");
        s.StartWorker("b");
        s.StartWorker("c");
        await s.DrainAsync(TimeSpan.FromSeconds(90));

        s.Check(a.Count("killing process") == 1, "a died at the fault point");
        var entries = await s.LedgerEntriesAsync(victim.ToString());
        var writers = entries.Select(e => (Worker: e.GetProperty("worker").GetString() ?? "?", Epoch: e.GetProperty("epoch").GetInt64())).ToList();
        s.Check(writers.Count == 1 && !writers[0].Worker.EndsWith($"/{a.Id}", StringComparison.Ordinal),
            $"the victim ran once, by a taker-over, not by a (pid {a.Id}): {string.Join(", ", writers.Select(w => $"{w.Worker} at epoch {w.Epoch}"))}");
        var takenOver = s.Outcomes("taken_over");
        s.Check(takenOver >= 1, "the takeover was counted (dedup.messages outcome=taken_over)");
        return string.Create(CultureInfo.InvariantCulture, $"takenOver={takenOver} seconds={clock.Elapsed.TotalSeconds:F0}");
    }

    [Fact]
    public async Task S04_KilledAfterCompleteBeforeAck_RedeliveryIsADuplicate()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "4-sigkill-after-complete-before-ack");
        var victim = Guid.NewGuid();
        var a = s.StartWorker("a-faulty", ("Worker__Faults__Kill", "AfterComplete"), ("Worker__Faults__PaymentId", victim.ToString()),
            ("Worker__PrefetchCount", "1"), ("Worker__ConcurrentMessageLimit", "1"));
        await s.WaitForConsumersAsync(1);
        await s.SendPaymentAsync(victim);
        var others = Ids(40);
        await s.SendPaymentsAsync(others, copies: 2);
        Assert.True(await a.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the faulty worker did not kill itself");
        var state = (string?)await s.DedupRedis.GetDatabase().HashGetAsync(await VictimKeyAsync(s), "s");
        s.Check(state == "c", $"the victim's record was completed before the kill (s={state})");
        s.StartWorker("b");
        s.StartWorker("c");
        await s.DrainAsync(TimeSpan.FromSeconds(90));

        s.Check(a.Count("before the ack") == 1, "a died after completing, before the ack");
        s.Check(s.Workers.Skip(1).Sum(w => w.Count("outcome=duplicate") + w.Count("outcome=in_flight_waited")) >= 1, "the redelivery was skipped as a duplicate");
        s.Check(s.Workers.Sum(w => w.Count("outcome=taken_over")) == 0, "no takeover");
        await s.FinishAsync();
    }

    // The crash window (issue 10): the side effect ran, the completion did not. The copy that takes the claim over asks
    // the ledger's takeover check, which finds the write applied: completed without running again.
    [Fact]
    public async Task S05_KilledAfterSideEffectBeforeComplete_TheTakeoverCheckFindsItApplied_RunsOnce()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "5-sigkill-after-side-effect (recovered)");
        var victim = Guid.NewGuid();
        var a = s.StartWorker("a-faulty", ("Worker__Faults__Kill", "AfterSideEffect"), ("Worker__Faults__PaymentId", victim.ToString()),
            ("Worker__PrefetchCount", "1"), ("Worker__ConcurrentMessageLimit", "1"));
        await s.WaitForConsumersAsync(1);
        await s.SendPaymentAsync(victim);
        var others = Ids(40);
        await s.SendPaymentsAsync(others, copies: 2);
        Assert.True(await a.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the faulty worker did not kill itself");
        var b = s.StartWorker("b");
        var c = s.StartWorker("c");
        await s.DrainAsync(TimeSpan.FromSeconds(90));

        var entries = await s.LedgerEntriesAsync(victim.ToString());
        var epochs = entries.Select(e => e.GetProperty("epoch").GetInt64()).ToList();
        s.Check(epochs.Count == 1, $"the victim's side effect ran once, at a's epoch, before a was killed: {string.Join(",", epochs)}");
        var recovered = $"the takeover check found the work of epoch {(epochs.Count == 1 ? epochs[0] : -1)} applied";
        s.Check(b.Count(recovered) + c.Count(recovered) == 1, "the takeover was recovered and logged (event 17, warning)");
        s.Check(b.Count("outcome=recovered") + c.Count("outcome=recovered") == 1, "the recovery was counted (dedup.messages outcome=recovered)");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S06_BrokerConnectionsDroppedMidProcessing()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "6-close-all-connections");
        var settings = new[] { ("Worker__PaymentWorkTime", "00:00:00.500") };
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        await s.WaitForConsumersAsync(2);
        var ids = Ids(150);
        var send = s.SendPaymentsAsync(ids, copies: 2);

        // Close once processing is under way (not after a fixed time: a fast machine would finish first).
        using (var started = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while ((await s.LedgerCountsAsync()).Count < 10)
                await Task.Delay(25, started.Token);
        }

        await s.RabbitMq.CtlAsync("close_all_connections", "reliability test");
        var ranBefore = (await s.LedgerCountsAsync()).Count;
        s.Log("closed all connections (1)");
        s.Check(ranBefore < ids.Count, $"the connections were closed mid-processing ({ranBefore} of {ids.Count} payments had run)");
        await Task.Delay(TimeSpan.FromSeconds(3));
        await s.RabbitMq.CtlAsync("close_all_connections", "reliability test");
        s.Log("closed all connections (2)");
        try
        {
            await send;
        }
        catch (Exception exception)
        {
            s.Log($"the producer's connection was closed too ({exception.GetType().Name}); resending everything (duplicates are harmless)");
            await s.ReconnectProducerAsync();
            await s.SendPaymentsAsync(ids, copies: 1);
        }

        await s.DrainAsync(TimeSpan.FromSeconds(120));
        await s.FinishAsync();
    }

    [Fact]
    public async Task S07_FrozenPastItsLease_TakenOverWithHigherEpoch_ResumedOneLosesItsLease()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "7-sigstop-past-lease");
        var victim = Guid.NewGuid();
        var a = s.StartWorker("a-frozen", ("Worker__PaymentWorkTime", "00:00:06"), ("Worker__PrefetchCount", "1"), ("Worker__ConcurrentMessageLimit", "1"));
        await s.WaitForConsumersAsync(1);
        await s.SendPaymentAsync(victim);
        var key = await VictimKeyAsync(s);
        s.Check((string?)await s.DedupRedis.GetDatabase().HashGetAsync(key, "s") == "p", "a claimed the victim");
        var frozenEpoch = (long)await s.DedupRedis.GetDatabase().HashGetAsync(key, "e");

        // Frozen only once a's process holds the claim. The claim script has run in Redis before a reads its reply; frozen
        // in between, a reads it after b took the key over and completed it, so ClaimCoordinator.ConfirmSlowClaimAsync
        // (a reply older than a third of the lease is confirmed by a renewal) finds it lost on arrival and claims again:
        // a counts a duplicate, never runs the work and has no lease to lose. Right, but not this scenario.
        s.Check(await RenewedAsync(s, key, frozenEpoch, TimeSpan.FromSeconds(10)), "a renewed its claim (its process holds it and runs the work)");
        a.Signal(WorkerProcess.SigStop);
        s.Log("SIGSTOP a");
        var b = s.StartWorker("b");
        await s.WaitForConsumersAsync(2);
        await s.SendPaymentAsync(victim); // the producer retries: b gets the copy, waits, takes over when a's lease runs out
        var others = Ids(20);
        await s.SendPaymentsAsync(others, copies: 2);
        Assert.True(await b.WaitForLineAsync("outcome=first", TimeSpan.FromSeconds(30)), "b did not run anything");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline && (string?)await s.DedupRedis.GetDatabase().HashGetAsync(key, "s") != "c")
            await Task.Delay(200);
        var epoch = (long)await s.DedupRedis.GetDatabase().HashGetAsync(key, "e");
        s.Check(epoch > frozenEpoch, $"b completed the victim at a higher epoch than a's {frozenEpoch} (e={epoch})");
        a.Signal(WorkerProcess.SigCont);
        s.Log("SIGCONT a");
        await s.DrainAsync(TimeSpan.FromSeconds(60), settle: TimeSpan.FromSeconds(5));

        s.Check(a.Count("outcome=lease_lost") >= 1, "a counted its lease as lost (dedup.messages outcome=lease_lost)");
        s.Check(a.Count("outcome=first") == 0, "a completed nothing for the victim");
        s.Check(b.Count($"taken over at epoch {epoch}") == 1, $"b logged the takeover at epoch {epoch}");
        var entries = await s.LedgerEntriesAsync(victim.ToString());
        s.Check(entries.Count == 1 && entries[0].GetProperty("epoch").GetInt64() == epoch, $"the ledger has one entry, written at epoch {epoch}");
        await s.FinishAsync();
    }

    /// <summary>
    /// Waits until the owner of <paramref name="key"/> renews its claim at <paramref name="epoch"/> (the lease deadline,
    /// field <c>d</c>, moves on): the owner's process then holds the claim, as only it renews. False when the claim
    /// changed hands or no renewal came within <paramref name="timeout"/>.
    /// </summary>
    static async Task<bool> RenewedAsync(Scenario s, StackExchange.Redis.RedisKey key, long epoch, TimeSpan timeout)
    {
        var db = s.DedupRedis.GetDatabase();
        var claimed = (string?)await db.HashGetAsync(key, "d");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var fields = await db.HashGetAsync(key, ["s", "e", "d"]);
            if ((string?)fields[0] != "p" || (long)fields[1] != epoch)
                return false;
            if ((string?)fields[2] != claimed)
                return true;
            await Task.Delay(20);
        }

        return false;
    }

    internal static async Task<StackExchange.Redis.RedisKey> VictimKeyAsync(Scenario s)
    {
        var server = s.DedupRedis.GetServers()[0];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await foreach (var key in server.KeysAsync(pattern: "dedup:*"))
                return key;
            await Task.Delay(50);
        }

        throw new InvalidOperationException("no dedup key appeared");
    }
}
