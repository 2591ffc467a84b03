using Dedup.Execution;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 2: <c>Durability</c> against the takeover check asked after a release (README "Records that survive a
/// failover", "Closing the crash window"), with the shared primary and replica.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("replicated-redis")]
public sealed class RedTeam2ReplicationTests(ReplicatedRedisFixture fixture)
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(600);
    readonly string _prefix = "rt2-repl-" + Guid.NewGuid().ToString("N")[..8] + ":";
    int _effects;

    ReplicatedRedis Pair => fixture.Pair;

    ServiceProvider Services(string connection, Action<DedupOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDedup(o =>
        {
            o.KeyPrefix = _prefix;
            o.StoreRetries = 0;
            o.Lease = Lease;
            configure?.Invoke(o);
        });
        services.AddDedupRedisStore($"{connection},connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
        return services.BuildServiceProvider();
    }

    Task<TakeoverVerdict> Check(DedupTakeover takeover, List<DedupTakeover> asked)
    {
        lock (asked)
            asked.Add(takeover);
        return Task.FromResult(Volatile.Read(ref _effects) > 0 ? TakeoverVerdict.Applied(7) : TakeoverVerdict.NotApplied);
    }

    // Red team 2, PROBE (held expected). README: "Renewals and releases are not confirmed: a failover can bring back an
    // older lease deadline or a released claim, which ends in a fenced takeover once that lease runs out". The work makes
    // its effect, the replica stops receiving, the work throws (its release reaches the primary only), the primary dies
    // and the replica is promoted: the copy must meet the durable claim, take it over and ask the check — never a fresh
    // key that skips it.
    [Fact]
    public async Task AfterClaim_ReleaseLostInAFailover_TheCopyTakesOverAndAsksTheCheck()
    {
        await Pair.RestoreAsync();
        long firstEpoch = 0;
        await using (var before = Services(Pair.PrimaryConnectionString, o =>
                     {
                         o.Durability.Replicas = 1;
                         o.Durability.Timeout = TimeSpan.FromMilliseconds(150);
                         o.Durability.AfterClaim = true;
                     }))
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => before.GetRequiredService<IDedupExecutor>().ExecuteAsync<int>("pay-1", async (claim, _) =>
            {
                firstEpoch = claim.Epoch;
                Interlocked.Increment(ref _effects);
                await Pair.DetachReplicaAsync(CancellationToken.None);
                throw new InvalidOperationException("after the effect (test)");
            }));
        }

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        await using var after = Services(Pair.PrimaryConnectionString, o => o.InFlightWait = TimeSpan.FromSeconds(10));
        var asked = new List<DedupTakeover>();
        var result = await after.GetRequiredService<IDedupExecutor>().ExecuteAsync("pay-1",
            (_, _) => { Interlocked.Increment(ref _effects); return Task.FromResult(1); },
            (t, _) => Check(t, asked));

        Assert.Equal(7, result);
        Assert.Equal(1, _effects);
        Assert.Equal(firstEpoch, Assert.Single(asked).PreviousEpoch);
    }

    // Red team 2, PROBE (held expected). README: a completion the replicas do not confirm "stays recorded" and the
    // executor's next call "returns the stored result once the replicas have it, without running the work". Here the
    // completion is the check's Applied verdict on a claim that follows a release.
    [Fact]
    public async Task ClaimAfterRelease_AppliedVerdictNotConfirmed_FailsTransiently_ThenTheRecordAnswers()
    {
        await Pair.RestoreAsync();
        await using var services = Services(Pair.PrimaryConnectionString, o =>
        {
            o.Durability.Replicas = 1;
            o.Durability.Timeout = TimeSpan.FromMilliseconds(150);
        });
        var executor = services.GetRequiredService<IDedupExecutor>();
        await Assert.ThrowsAsync<InvalidOperationException>(() => executor.ExecuteAsync<int>("pay-2", (_, _) =>
        {
            Interlocked.Increment(ref _effects);
            throw new InvalidOperationException("after the effect (test)");
        }));

        var asked = new List<DedupTakeover>();
        Pair.PauseReplica();
        try
        {
            var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => executor.ExecuteAsync("pay-2",
                (_, _) => { Interlocked.Increment(ref _effects); return Task.FromResult(1); },
                (t, _) => Check(t, asked)));
            Assert.Equal("complete", failed.Operation);
        }
        finally
        {
            // Caught up before the next call: its 150 ms confirmation must not wait for a replica still thawing.
            await Pair.ResumeReplicaAndCatchUpAsync();
        }

        Assert.Equal(7, await executor.ExecuteAsync("pay-2", (_, _) => { Interlocked.Increment(ref _effects); return Task.FromResult(1); }, (t, _) => Check(t, asked)));
        Assert.Equal(1, _effects);
        Assert.Single(asked);
    }

    // Red team 2, broken before the fix (low severity; README "Closing the crash window": "A takeover claim is never released before its
    // work started ... its lease is cut instead (to 1 ms), so the next copy takes the key over again and asks the check
    // again"). With Durability.AfterClaim and a replica that does not confirm, ReplicatedDedupStore.ClaimAsync gives a
    // TAKEOVER claim back with a plain release (ReleaseQuietlyAsync), not a cut: the key becomes 's=a', drops the crashed
    // owner's fingerprint and epoch chain, and the next copy is a fresh "claimed after release" whose check is told the
    // released copy's epoch (which did nothing) instead of the crashed owner's. The check is still asked, so no double
    // run follows; the promise's wording is what breaks. Fails: the state is "a", not "p".
    [Fact]
    public async Task AfterClaim_TakeoverNotConfirmed_TheTakeoverClaimIsCutNotReleased()
    {
        await Pair.RestoreAsync();
        await using var services = Services(Pair.PrimaryConnectionString, o =>
        {
            o.Durability.Replicas = 1;
            o.Durability.Timeout = TimeSpan.FromMilliseconds(150);
            o.Durability.AfterClaim = true;
        });
        var key = DedupKey.ForCustomKey(_prefix, DedupKey.Scope("Dedup.Executor"), "pay-3");
        var store = services.GetRequiredService<IDedupStore>();
        var crashed = await store.ClaimAsync(key, "crashed-owner", string.Empty, Lease, TimeSpan.FromHours(1), default); // never completed
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(100));

        var asked = new List<DedupTakeover>();
        Pair.PauseReplica();
        try
        {
            await Assert.ThrowsAsync<DedupNotReplicatedException>(() => services.GetRequiredService<IDedupExecutor>().ExecuteAsync("pay-3",
                (_, _) => { Interlocked.Increment(ref _effects); return Task.FromResult(1); }, (t, _) => Check(t, asked)));
        }
        finally
        {
            Pair.ResumeReplica();
        }

        Assert.Equal(0, _effects);
        Assert.Empty(asked);
        Assert.True(crashed.Epoch > 0);
        Assert.Equal("p", await Pair.PrimaryCliAsync("HGET", key, "s"));
    }
}
