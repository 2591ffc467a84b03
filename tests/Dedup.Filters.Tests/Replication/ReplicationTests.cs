using System.Diagnostics;
using Dedup.Diagnostics;
using Dedup.Execution;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.Replication;

/// <summary>A Redis primary and replica shared by the failover tests (started once; each test restores it first).</summary>
[Trait("Needs", "Redis")]
[CollectionDefinition("replicated-redis")]
public sealed class ReplicatedRedisCollection : ICollectionFixture<ReplicatedRedisFixture>
{
}

/// <summary>
/// <c>Dedup:Durability</c> against a real primary and replica: what a failover keeps, what it forgets without the
/// option, and what each policy does when the replica does not confirm (README, "Records that survive a failover").
/// </summary>
[Trait("Needs", "Redis")]
[Collection("replicated-redis")]
public sealed class ReplicationTests(ReplicatedRedisFixture fixture, ITestOutputHelper output)
{
    const int Result = 42;
    static readonly TimeSpan Healthy = TimeSpan.FromSeconds(5); // a live replica confirms in well under a millisecond; generous for a loaded machine
    static readonly TimeSpan RunsOut = TimeSpan.FromMilliseconds(300); // the wait for a frozen replica

    readonly string _prefix = "repl-" + Guid.NewGuid().ToString("N")[..8] + ":";
    int _runs;

    ReplicatedRedis Pair => fixture.Pair;

    [Fact]
    public async Task Failover_AfterADurableCompletion_TheCopyIsADuplicate()
    {
        await Pair.RestoreAsync();
        await using (var before = Services(Pair.PrimaryConnectionString, o => Durable(o, Healthy)))
            Assert.Equal(Result, await Executor(before).ExecuteAsync("charge-1", WorkAsync));

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        // The store pointed at the promoted replica (which has no replica of its own yet, so no durability there).
        await using var after = Services(Pair.PrimaryConnectionString);
        Assert.Equal(Result, await Executor(after).ExecuteAsync("charge-1", WorkAsync));
        Assert.Equal(1, _runs);
    }

    /// <summary>What the option prevents: without it a completion the primary acknowledged is gone after the failover.</summary>
    [Fact]
    public async Task Failover_WithoutDurability_ForgetsACompletionTheReplicaNeverGot()
    {
        await Pair.RestoreAsync();
        await Pair.DetachReplicaAsync(); // replication lags at the moment of the crash, deterministically
        await using (var before = Services(Pair.PrimaryConnectionString))
            Assert.Equal(Result, await Executor(before).ExecuteAsync("charge-1", WorkAsync)); // acknowledged

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        await using var after = Services(Pair.PrimaryConnectionString);
        Assert.Equal(Result, await Executor(after).ExecuteAsync("charge-1", WorkAsync));
        Assert.Equal(2, _runs); // the work ran again
    }

    [Fact]
    public async Task Failover_WithDurability_DoesNotAcknowledgeACompletionTheReplicaNeverGot()
    {
        await Pair.RestoreAsync();
        await Pair.DetachReplicaAsync();
        await using var before = Services(Pair.PrimaryConnectionString, o => Durable(o, RunsOut));

        var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => Executor(before).ExecuteAsync("charge-1", WorkAsync));

        Assert.Equal(("complete", 0, 1), (failed.Operation, failed.Acknowledged, failed.Required));
        Assert.IsAssignableFrom<DedupTransientException>(failed); // a message would be redelivered, never acknowledged
    }

    /// <summary>With AfterClaim the promoted replica knows the claim: a copy waits for the lease and takes over, fenced.</summary>
    [Fact]
    public async Task Failover_AfterADurableClaim_TheCopyFindsTheClaimAndTakesItOverWhenItsLeaseRunsOut()
    {
        await Pair.RestoreAsync();
        var lease = TimeSpan.FromMilliseconds(500);
        var key = DedupKey.ForMessageId(_prefix, DedupKey.Scope("replication"), Guid.NewGuid());
        ClaimResult first;
        await using (var before = Services(Pair.PrimaryConnectionString, o => { Durable(o, Healthy); o.Durability.AfterClaim = true; }))
            first = await before.GetRequiredService<IDedupStore>().ClaimAsync(key, "owner-1", "fp", lease, TimeSpan.FromHours(1), default);

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        await using var after = Services(Pair.PrimaryConnectionString);
        var store = after.GetRequiredService<IDedupStore>();
        // The promoted replica holds the claim: the copy finds it busy (or, when the failover outlasted the lease on a
        // loaded machine, already expired), never a fresh key.
        var copy = await store.ClaimAsync(key, "owner-2", "fp", lease, TimeSpan.FromHours(1), default);
        Assert.Contains(copy.Outcome, new[] { ClaimOutcome.Busy, ClaimOutcome.TakenOver });
        if (copy.Outcome == ClaimOutcome.Busy)
        {
            Assert.Equal(first.Epoch, copy.Epoch);
            await Task.Delay(copy.LeaseRemaining + TimeSpan.FromMilliseconds(50));
        }

        var takeover = await store.ClaimAsync(key, "owner-2", "fp", lease, TimeSpan.FromHours(1), default);
        Assert.Equal(ClaimOutcome.TakenOver, takeover.Outcome);
        Assert.Equal(first.Epoch, takeover.PreviousEpoch);
        Assert.True(takeover.Epoch > first.Epoch);
    }

    [Fact]
    public async Task Complete_ReplicaFrozen_FailsTransiently_AndKeepsTheRecordForTheRedelivery()
    {
        await Pair.RestoreAsync();
        await using var services = Services(Pair.PrimaryConnectionString, o => Durable(o, RunsOut));
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, services.GetRequiredService<DedupMetrics>());
        var executor = Executor(services);

        Pair.PauseReplica();
        var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => executor.ExecuteAsync("charge-1", WorkAsync));
        await Pair.ResumeReplicaAndCatchUpAsync();
        var retried = await executor.ExecuteAsync("charge-1", WorkAsync);

        Assert.Equal("complete", failed.Operation);
        Assert.Equal("c", await Pair.PrimaryCliAsync("HGET", ExecutorKey("charge-1"), "s")); // the work happened: recorded, not released
        Assert.Equal(Result, retried); // answered from the record once the replica confirmed it
        Assert.Equal(1, _runs);
        lock (outcomes)
            Assert.Equal(1, outcomes.Count(o => o == DedupOutcomes.NotReplicated));
    }

    /// <summary>
    /// A duplicate is acknowledged only on a record the replicas have, whoever wrote it: here a store without the option
    /// completed it while the replica was frozen, and the durable store's connections have written nothing yet, so only
    /// the touch in front of its WAIT makes the WAIT count the record.
    /// </summary>
    [Fact]
    public async Task Duplicate_OfARecordTheReplicaDoesNotHave_IsNotAcknowledgedUntilConfirmed()
    {
        await Pair.RestoreAsync();
        await using var plain = Services(Pair.PrimaryConnectionString);
        await using var durable = Services(Pair.PrimaryConnectionString, o => Durable(o, RunsOut));

        Pair.PauseReplica();
        await Executor(plain).ExecuteAsync("charge-1", WorkAsync);
        var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => Executor(durable).ExecuteAsync("charge-1", WorkAsync));
        await Pair.ResumeReplicaAndCatchUpAsync();
        var confirmed = await Executor(durable).ExecuteAsync("charge-1", WorkAsync);

        Assert.Equal("duplicate", failed.Operation);
        Assert.Equal(Result, confirmed);
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task Complete_ReplicaFrozen_AcceptAcknowledges_CountedAndWarned()
    {
        await Pair.RestoreAsync();
        var logs = new LogCapture();
        await using var services = Services(Pair.PrimaryConnectionString, o =>
        {
            Durable(o, RunsOut);
            o.Durability.OnTimeout = ReplicationTimeoutPolicy.Accept;
        }, logs);
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, services.GetRequiredService<DedupMetrics>());

        Pair.PauseReplica();
        var value = await Executor(services).ExecuteAsync("charge-1", WorkAsync);
        await Pair.ResumeReplicaAndCatchUpAsync();

        Assert.Equal(Result, value);
        lock (outcomes)
            Assert.Equal([DedupOutcomes.NotReplicated, DedupOutcomes.First], outcomes);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 60);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("confirmed by 0 of 1 replicas", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claim_ReplicaFrozen_AfterClaim_ReleasesTheClaimBeforeTheWorkRuns()
    {
        await Pair.RestoreAsync();
        await using var services = Services(Pair.PrimaryConnectionString, o =>
        {
            Durable(o, RunsOut);
            o.Durability.AfterClaim = true;
        });

        Pair.PauseReplica();
        var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => Executor(services).ExecuteAsync("charge-1", WorkAsync));
        await Pair.ResumeReplicaAndCatchUpAsync();

        Assert.Equal("claim", failed.Operation);
        Assert.Equal(0, _runs);
        Assert.Equal("a", await Pair.PrimaryCliAsync("HGET", ExecutorKey("charge-1"), "s")); // released: the next copy claims at once
    }

    /// <summary>
    /// The design choice behind WaitConnections: a WAIT that blocks for its whole timeout holds up its own connection
    /// only. On the store's multiplexer every claim and renewal would queue behind it.
    /// </summary>
    [Fact]
    public async Task Wait_ReplicaFrozen_DoesNotHoldUpOtherCalls()
    {
        await Pair.RestoreAsync();
        await using var services = Services(Pair.PrimaryConnectionString, o => Durable(o, TimeSpan.FromSeconds(3)));
        var store = services.GetRequiredService<IDedupStore>();
        var (blocked, other) = (NewKey(), NewKey());
        var claimed = await store.ClaimAsync(blocked, "owner-1", "fp", TimeSpan.FromSeconds(30), TimeSpan.FromHours(1), default);

        Pair.PauseReplica();
        var completing = store.CompleteAsync(blocked, "owner-1", claimed.Epoch, ReadOnlyMemory<byte>.Empty, TimeSpan.FromHours(1), default).AsTask();
        await UntilAsync(async () => await Pair.PrimaryCliAsync("INFO", "clients") is var info && info.Contains("blocked_clients:1", StringComparison.Ordinal));
        var started = Stopwatch.GetTimestamp();
        var otherClaim = await store.ClaimAsync(other, "owner-2", "fp", TimeSpan.FromSeconds(30), TimeSpan.FromHours(1), default);
        var renewed = await store.RenewAsync(other, "owner-2", otherClaim.Epoch, TimeSpan.FromSeconds(30), default);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var stillWaiting = !completing.IsCompleted;
        await Pair.ResumeReplicaAndCatchUpAsync();

        output.WriteLine($"claim + renew while a WAIT blocked: {elapsed.TotalMilliseconds:0.0} ms");
        Assert.True(stillWaiting, "the WAIT ended before the other calls did");
        Assert.Equal(ClaimOutcome.Claimed, otherClaim.Outcome);
        Assert.True(renewed);
        Assert.True(await completing); // confirmed once the replica thawed
    }

    Task<int> WorkAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _runs);
        return Task.FromResult(Result);
    }

    static void Durable(DedupOptions options, TimeSpan timeout)
    {
        options.Durability.Replicas = 1;
        options.Durability.Timeout = timeout;
    }

    ServiceProvider Services(string connection, Action<DedupOptions>? configure = null, LogCapture? logs = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            if (logs is not null)
                b.AddProvider(logs);
        });
        services.AddDedup(o =>
        {
            o.KeyPrefix = _prefix;
            o.StoreRetries = 0;
            configure?.Invoke(o);
        });
        services.AddDedupRedisStore($"{connection},connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
        return services.BuildServiceProvider();
    }

    static IDedupExecutor Executor(IServiceProvider services) => services.GetRequiredService<IDedupExecutor>();

    string ExecutorKey(string key) => DedupKey.ForCustomKey(_prefix, DedupKey.Scope("Dedup.Executor"), key);

    string NewKey() => DedupKey.ForMessageId(_prefix, DedupKey.Scope("replication"), Guid.NewGuid());

    static async Task UntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!await condition())
            await Task.Delay(10, timeout.Token);
    }
}
