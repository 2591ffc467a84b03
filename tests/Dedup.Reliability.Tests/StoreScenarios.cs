using System.Globalization;
using Dedup.Diagnostics;
using Dedup.Testing;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>Scenarios 8 to 13: the dedup Redis stopped, restarted without persistence, script cache flushed, paused, full; a duplicate storm.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(ReliabilityCollection.Name)]
public sealed class StoreScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    static List<Guid> Ids(int n) => [.. Enumerable.Range(0, n).Select(_ => Guid.NewGuid())];

    [Fact]
    public async Task S08a_RedisStoppedBeforeClaims_FailClosedThenProcessedOnce()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "8a-redis-stopped-before-claims", new RedisServerOptions { AppendOnly = true });
        s.StartWorker("w1");
        s.StartWorker("w2");
        await s.WaitForConsumersAsync(2);
        await s.Redis.StopAsync();
        s.Log("dedup Redis stopped");
        var ids = Ids(50);
        await s.SendPaymentsAsync(ids, copies: 2);
        await Task.Delay(TimeSpan.FromSeconds(4));
        var ranWhileDown = (await s.LedgerCountsAsync()).Values.Sum();
        await s.CollectErrorsAsync();
        s.Check(ranWhileDown == 0, $"nothing ran while the dedup store was down (fail closed): {ranWhileDown}");
        s.Check(s.Errors.Count == 0, "nothing went to the error queue while the store was down");
        s.Check(await s.QueueDepthAsync(Scenario.Payments) == 100, "every message is still in the queue");
        s.Check(s.Workers.All(w => !w.HasExited), "the workers kept running");
        await s.Redis.RestartAsync();
        s.Log("dedup Redis restarted");
        await s.DrainAsync(TimeSpan.FromSeconds(90));
        await s.FinishAsync();
    }

    // The window of scenario 5 with the store gone instead of the process: the side effect ran and its completion cannot
    // be recorded. The claim is left in progress (a lost lease is cut, never released), so the copy after Redis is back
    // takes it over and the ledger's takeover check finds the write applied (issue 10).
    [Fact]
    public async Task S08b_RedisStoppedBetweenSideEffectAndCompletion_TheTakeoverCheckFindsItApplied_RunsOnce()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "8b-redis-stopped-after-side-effect (recovered)", new RedisServerOptions { AppendOnly = true });
        var victim = Guid.NewGuid();
        var a = s.StartWorker("a", ("Worker__Faults__PaymentId", victim.ToString()), ("Worker__Faults__PauseAfterSideEffect", "00:00:02"),
            ("Worker__PrefetchCount", "1"), ("Worker__ConcurrentMessageLimit", "1"));
        await s.WaitForConsumersAsync(1);
        await s.SendPaymentAsync(victim);
        Assert.True(await a.WaitForLineAsync("side effect done for payment", TimeSpan.FromSeconds(30)), "the side effect never ran");
        await s.Redis.StopAsync();
        s.Log("dedup Redis stopped after the side effect, before completion");
        var others = Ids(30);
        await s.SendPaymentsAsync(others, copies: 2);
        s.StartWorker("b");
        await Task.Delay(TimeSpan.FromSeconds(4));
        await s.Redis.RestartAsync();
        s.Log("dedup Redis restarted");
        await s.DrainAsync(TimeSpan.FromSeconds(90));

        var entries = await s.LedgerEntriesAsync(victim.ToString());
        var epochs = entries.Select(e => e.GetProperty("epoch").GetInt64()).ToList();
        s.Check(epochs.Count == 1, $"the victim's side effect ran once, before Redis went away: {string.Join(",", epochs)}");
        var recovered = $"the takeover check found the work of epoch {(epochs.Count == 1 ? epochs[0] : -1)} applied";
        s.Check(s.Workers.Sum(w => w.Count(recovered)) == 1, "the takeover after Redis came back was recovered and logged (event 17, warning)");
        s.Check(s.Workers.Sum(w => w.Count("outcome=recovered")) == 1, "the recovery was counted (dedup.messages outcome=recovered)");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S09_RedisRestartedWithoutPersistence_ForgetsEveryRecord()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "9-redis-restart-without-persistence (forgets)", new RedisServerOptions { AppendOnly = false });
        s.StartWorker("w1");
        await s.WaitForConsumersAsync(1);
        var ids = Ids(20);
        await s.SendPaymentsAsync(ids, copies: 1);
        await s.DrainAsync(TimeSpan.FromSeconds(60));
        await s.SendPaymentsAsync(ids, copies: 1); // with the records: skipped
        await s.DrainAsync(TimeSpan.FromSeconds(60));
        var before = (await s.LedgerCountsAsync()).Values.Sum();
        s.Check(before == 20, $"before the restart a resend is skipped ({before} executions for 20 ids)");
        await s.Redis.RestartAsync();
        var size = await s.Redis.CliAsync("DBSIZE");
        s.Check(size == "0", $"the restarted Redis without persistence holds no record (DBSIZE {size})");
        foreach (var id in ids)
            s.AllowDuplicate(id.ToString(), 1); // documented: a restart without persistence forgets every record
        await s.SendPaymentsAsync(ids, copies: 1);
        await s.DrainAsync(TimeSpan.FromSeconds(60));
        var after = (await s.LedgerCountsAsync()).Values.Sum();
        s.Check(after == 40, $"after the restart every resend ran again: {after} executions for 20 ids (what the README says is forgotten)");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S10_ScriptFlushDuringTraffic()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "10-script-flush-during-traffic");
        s.StartWorker("w1");
        s.StartWorker("w2");
        await s.WaitForConsumersAsync(2);
        using var stop = new CancellationTokenSource();
        var flushes = 0;
        var flusher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await s.Redis.CliAsync("SCRIPT", "FLUSH");
                flushes++;
                await Task.Delay(50);
            }
        });
        var ids = Ids(200);
        await s.SendPaymentsAsync(ids, copies: 2);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await flusher;
        s.Log($"{flushes} SCRIPT FLUSH during traffic");
        await s.DrainAsync(TimeSpan.FromSeconds(90));
        s.Check(flushes >= 10, "the script cache was flushed repeatedly while messages ran");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S11_ClientPauseLongerThanTheTimeout_RetriedClaimsDoNotDoubleRun()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "11-client-pause-ambiguous-timeout");
        var redis = $"{s.Redis.ConnectionString},syncTimeout=300,asyncTimeout=300";
        // 150 payments at 100 ms each, 2 at a time per worker: about 4 s of claims and completions, which the four pauses
        // (1.2 s of every 1.6 s) overlap on any machine; at 30 ms and 4 at a time a loaded CI host once ran them all
        // between pauses, and no store call timed out.
        var settings = new[] { ("Redis__Configuration", redis), ("Worker__PaymentWorkTime", "00:00:00.100"), ("Worker__ConcurrentMessageLimit", "2") };
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        await s.WaitForConsumersAsync(2);
        var ids = Ids(150);
        await s.Redis.CliAsync("CLIENT", "PAUSE", "1200", "ALL"); // longer than the 300 ms client timeout: claims time out, then run
        s.Log("CLIENT PAUSE 1200 ALL");
        var send = s.SendPaymentsAsync(ids, copies: 2);
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1600));
            await s.Redis.CliAsync("CLIENT", "PAUSE", "1200", "ALL");
            s.Log("CLIENT PAUSE 1200 ALL");
        }

        await send;
        await s.DrainAsync(TimeSpan.FromSeconds(120));
        var timeouts = s.Workers.Sum(w => w.Count(DedupTelemetry.StoreErrors));
        s.Check(timeouts > 0, $"store calls timed out during the pauses ({timeouts} {DedupTelemetry.StoreErrors})");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S12_DuplicateStorm_TenThousandCopiesOfOneId()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "12-duplicate-storm-10000");
        var settings = new[] { ("Worker__PrefetchCount", "128"), ("Worker__ConcurrentMessageLimit", "64") };
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        s.StartWorker("w3", settings);
        await s.WaitForConsumersAsync(3);
        var storm = Guid.NewGuid();
        var started = DateTime.UtcNow;
        await s.SendPaymentAsync(storm, copies: 10_000);
        var others = Ids(20);
        await s.SendPaymentsAsync(others, copies: 1);
        s.Log($"sent 10,020 in {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        await s.DrainAsync(TimeSpan.FromSeconds(240));
        s.Log($"drained {(DateTime.UtcNow - started).TotalSeconds:F1} s after the first send");
        var skipped = s.Workers.Sum(w => w.Count("outcome=duplicate") + w.Count("outcome=in_flight_waited"));
        s.Check(skipped >= 9_999, $"9,999 copies were skipped ({skipped})");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S13_MaxMemoryNoEviction_NewClaimsFailClosed_CompletionsSucceed()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "13-maxmemory-noeviction", new RedisServerOptions { MaxMemoryBytes = 256L * 1024 * 1024 });
        var settings = new[] { ("Worker__PaymentWorkTime", "00:00:00.150") };
        s.StartWorker("w1", settings);
        s.StartWorker("w2", settings);
        await s.WaitForConsumersAsync(2);
        var used = long.Parse(Info(await s.Redis.CliAsync("INFO", "memory"), "used_memory"), CultureInfo.InvariantCulture);
        var limit = used + 120_000;
        await s.Redis.CliAsync("CONFIG", "SET", "maxmemory", limit.ToString(CultureInfo.InvariantCulture));
        s.Log($"maxmemory {limit} (used {used}), policy {await s.Redis.CliAsync("CONFIG", "GET", "maxmemory-policy")}");
        var ids = Ids(1500);
        await s.SendPaymentsAsync(ids, copies: 1);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline && s.Workers.Sum(w => w.Count("outcome=store_error")) == 0)
            await Task.Delay(200);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var oom = Info(await s.Redis.CliAsync("INFO", "errorstats"), "errorstat_OOM");
        s.Check(oom.Contains("count=", StringComparison.Ordinal), $"new claims were refused with OOM ({oom})");
        await s.CollectErrorsAsync();
        s.Check(s.Errors.Count == 0, "no message went to the error queue at maxmemory (fail closed: retried)");
        var ran = (await s.LedgerCountsAsync()).Count;
        s.Check(ran < 1500, $"not everything could run at maxmemory ({ran} of 1500 ran so far)");
        await s.Redis.CliAsync("CONFIG", "SET", "maxmemory", "0");
        s.Log("maxmemory lifted");
        await s.DrainAsync(TimeSpan.FromSeconds(120));
        var evicted = Info(await s.Redis.CliAsync("INFO", "stats"), "evicted_keys");
        s.Check(evicted == "0", $"no key evicted (evicted_keys {evicted})");
        await s.FinishAsync();
    }

    internal static string Info(string info, string field)
    {
        foreach (var line in info.Split('\n'))
        {
            var parts = line.Trim().Split(':', 2);
            if (parts.Length == 2 && parts[0] == field)
                return parts[1];
        }

        return string.Empty;
    }
}
