using System.Collections.Concurrent;
using System.Diagnostics;
using Dedup.Execution;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 5 in real time against a real redis-server of this class's own (it is frozen with SIGSTOP in one test, so it
/// is not the shared one), through the executor: the lease monitor's renewals (one timer until the first renewal, then
/// the loop), its local deadline while the server hangs, MaxRunTime, and completions that meet the first renewal.
/// Leases are 600 ms (renewals every 200 ms); bounds are generous for a loaded 2-core host.
/// </summary>
[Trait("Needs", "Redis")]
public sealed class LeaseMonitorRedTeam5RedisTests(RedisFixture redis, ITestOutputHelper output) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(600);
    static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(300); // scheduling slack allowed after a deadline

    readonly RecordingLogger _log = new();
    readonly List<ServiceProvider> _providers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await redis.Server.ResumeProcessAsync(); // never leave the server frozen
        foreach (var provider in _providers)
            await provider.DisposeAsync();
    }

    (IDedupExecutor Executor, ProbeStore Store, IDedupStore Raw) Build(Action<DedupOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDedup(o =>
        {
            o.KeyPrefix = "rt5-" + Guid.NewGuid().ToString("N")[..8] + ":";
            o.Lease = Lease;
            configure?.Invoke(o);
        });
        services.AddDedupRedisStore(redis.Server.ConnectionString + ",asyncTimeout=2000,syncTimeout=2000,abortConnect=false");
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        var raw = provider.GetRequiredService<IDedupStore>();
        var probe = new ProbeStore(raw);
        var coordinator = ActivatorUtilities.CreateInstance<ClaimCoordinator>(provider, probe, _log);
        return (ActivatorUtilities.CreateInstance<DedupExecutor>(provider, coordinator), probe, raw);
    }

    // PASSING PROBE (promise 1): six callers at once each run work for 3.6 s (six leases, about 18 renewals) on a real
    // Redis. Another process's claims on the same keys (polled every 150 ms) are busy every time; every work's token
    // stays uncancelled, every result is recorded, and nothing logs a lost lease.
    [Fact]
    public async Task RedTeam5_Redis_WorkOfSixLeases_KeepsItsKeyThroughEveryRenewal()
    {
        var (executor, store, raw) = Build(o => o.MaxRunTime = TimeSpan.FromMinutes(5));
        var keys = Enumerable.Range(0, 6).Select(_ => "long:" + Guid.NewGuid()).ToArray();
        var storeKeys = new ConcurrentDictionary<string, string>();
        var intrusions = new ConcurrentQueue<string>();
        using var stopIntruder = new CancellationTokenSource();

        var works = keys.Select(key => executor.ExecuteAsync(key, async (claim, token) =>
        {
            storeKeys[key] = claim.Key;
            await Task.Delay(TimeSpan.FromMilliseconds(3600), token);
            return claim.LeaseLost.IsCancellationRequested ? -1 : 1;
        })).ToArray();
        var intruder = Task.Run(async () =>
        {
            while (!stopIntruder.IsCancellationRequested)
            {
                await Task.Delay(150);
                foreach (var storeKey in storeKeys.Values)
                {
                    var result = await raw.ClaimAsync(storeKey, "intruder-" + Guid.NewGuid().ToString("N")[..8], string.Empty, Lease, TimeSpan.FromHours(1), default);
                    if (result.Outcome is not (ClaimOutcome.Busy or ClaimOutcome.Duplicate))
                        intrusions.Enqueue($"{storeKey}: {result.Outcome}");
                }
            }
        });

        var results = await Task.WhenAll(works).WaitAsync(TimeSpan.FromSeconds(30));
        await stopIntruder.CancelAsync();
        await intruder.WaitAsync(TimeSpan.FromSeconds(10));
        var renewals = store.RenewLog.Where(r => r.Lease == Lease).ToArray();
        output.WriteLine($"{renewals.Length} renewals, {renewals.Count(r => r.Answer != true)} not ok (null: cancelled by the completion's stop)");

        Assert.All(results, r => Assert.Equal(1, r));
        Assert.Empty(intrusions);
        Assert.DoesNotContain(5, _log.EventIds);
        Assert.DoesNotContain(renewals, r => r.Answer == false); // a renewal in flight at the completion is cancelled (null)
        Assert.InRange(renewals.Count(r => r.Answer == true), 6 * 12, 6 * 20);
        foreach (var key in keys)
            Assert.Equal(1, await executor.ExecuteAsync(key, _ => Task.FromResult(-2))); // a duplicate: the stored result
    }

    // PASSING PROBE (promise 2): the Redis server is frozen (SIGSTOP) while the work runs: renewals hang. LeaseLost is
    // cancelled no earlier than a lease after the start of the last successful renewal and no later than that plus
    // scheduling slack; the work's token is cancelled; nothing is recorded; once the server thaws, the lease was cut, so
    // the next caller takes the key over at once (the check is asked) instead of waiting.
    [Fact]
    public async Task RedTeam5_Redis_ServerFrozen_LeaseLostALeaseAfterTheLastSuccessfulRenewalStarted()
    {
        var (executor, store, _) = Build();
        var key = "frozen:" + Guid.NewGuid();
        long lostAt = 0;
        var workCancelled = false;
        var frozen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var running = executor.ExecuteAsync(key, async (claim, token) =>
        {
            claim.LeaseLost.Register(() => Interlocked.Exchange(ref lostAt, Stopwatch.GetTimestamp()));
            frozen.TrySetResult();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), token);
            }
            catch (OperationCanceledException)
            {
                workCancelled = true;
                throw;
            }

            return 1;
        });
        await frozen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromMilliseconds(1300)); // a few renewals succeed
        await redis.Server.PauseProcessAsync();
        var pausedAt = Stopwatch.GetTimestamp();
        try
        {
            var waited = Stopwatch.StartNew();
            while (Volatile.Read(ref lostAt) == 0 && waited.Elapsed < TimeSpan.FromSeconds(10))
                await Task.Delay(10);
        }
        finally
        {
            await redis.Server.ResumeProcessAsync(); // thawed once the loss is seen, so the lease cut gets through
        }

        var lost = await Assert.ThrowsAsync<DedupLeaseLostException>(() => running.WaitAsync(TimeSpan.FromSeconds(10)));
        var lastOk = store.RenewLog.Where(r => r.Answer == true && r.Lease == Lease).Max(r => r.Started); // not the cut (1 ms)
        var sinceLastOk = Stopwatch.GetElapsedTime(lastOk, Volatile.Read(ref lostAt));
        output.WriteLine($"lost {sinceLastOk.TotalMilliseconds:F0} ms after the last successful renewal started; " +
                         $"{Stopwatch.GetElapsedTime(pausedAt, lostAt).TotalMilliseconds:F0} ms after the pause");
        var asked = 0;
        var next = await executor.ExecuteAsync(key, (_, _) => Task.FromResult(2),
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.NotApplied); }).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(workCancelled);
        Assert.InRange(sinceLastOk, Lease - TimeSpan.FromMilliseconds(5), Lease + Slack);
        Assert.Equal(1, _log.EventIds.Count(id => id == 5));
        Assert.Equal(2, next);
        Assert.Equal(1, asked); // a takeover (the lease was cut, not released), and the check was asked
        Assert.NotNull(lost);
    }

    // PASSING PROBE (promise 3): MaxRunTime 1.5 s with a 600 ms lease on a real Redis: renewals succeed, and LeaseLost
    // is cancelled at 1.5 s (plus slack), event 30 logged, nothing recorded.
    [Fact]
    public async Task RedTeam5_Redis_MaxRunTime_LostThenWhileRenewalsSucceed()
    {
        var (executor, store, _) = Build(o => o.MaxRunTime = TimeSpan.FromMilliseconds(1500));
        long startedAt = 0, lostAt = 0;

        var running = executor.ExecuteAsync("hung:" + Guid.NewGuid(), async (claim, token) =>
        {
            Interlocked.Exchange(ref startedAt, Stopwatch.GetTimestamp());
            claim.LeaseLost.Register(() => Interlocked.Exchange(ref lostAt, Stopwatch.GetTimestamp()));
            await Task.Delay(TimeSpan.FromSeconds(20), token);
            return 1;
        });
        await Assert.ThrowsAsync<DedupLeaseLostException>(() => running.WaitAsync(TimeSpan.FromSeconds(10)));
        var ranFor = Stopwatch.GetElapsedTime(startedAt, lostAt);
        output.WriteLine($"lost after {ranFor.TotalMilliseconds:F0} ms of work; {store.RenewLog.Count} renewals");

        Assert.InRange(ranFor, TimeSpan.FromMilliseconds(1400), TimeSpan.FromMilliseconds(1500) + Slack);
        Assert.Contains(30, _log.EventIds);
        var renewals = store.RenewLog.Where(r => r.Lease == Lease).ToArray(); // not the cut (1 ms)
        Assert.All(renewals, r => Assert.True(r.Answer));
        Assert.InRange(renewals.Length, 4, 9);
    }

    // PASSING PROBE (promise 4): 120 callers whose work ends around the first renewal (170..230 ms into a 600 ms lease,
    // the first renewal due at 200 ms), 12 at a time, on a real Redis: every one completes (a repeat is a duplicate), no
    // lease is reported lost, no renewal of an owner starts once its completion was sent.
    [Fact]
    public async Task RedTeam5_Redis_WorkEndingAroundTheFirstRenewal_CompletesCleanly()
    {
        var (executor, store, _) = Build();
        var random = new Random(5);
        var durations = Enumerable.Range(0, 120).Select(_ => random.Next(170, 231)).ToArray();
        using var gate = new SemaphoreSlim(12);
        var keys = durations.Select(_ => "edge:" + Guid.NewGuid()).ToArray();

        var results = await Task.WhenAll(durations.Select(async (ms, i) =>
        {
            await gate.WaitAsync();
            try
            {
                return await executor.ExecuteAsync(keys[i], async (_, token) =>
                {
                    await Task.Delay(ms, token);
                    return i;
                });
            }
            finally
            {
                gate.Release();
            }
        })).WaitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"{store.RenewLog.Count} renewals among 120 claims");

        Assert.Equal(Enumerable.Range(0, 120), results);
        Assert.DoesNotContain(5, _log.EventIds);
        foreach (var owner in store.ClaimOwners().Distinct())
            Assert.Empty(store.RenewalsAfter(owner, "complete-start"));
        for (var i = 0; i < 120; i += 10)
            Assert.Equal(i, await executor.ExecuteAsync(keys[i], _ => Task.FromResult(-1)));
    }
}
