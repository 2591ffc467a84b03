using Dedup.Execution;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 7: <c>Durability</c> with a configuration string a user writes (README, Options: <c>AddDedupRedisStore</c>
/// takes a StackExchange.Redis configuration string), on the shared primary and replica.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("replicated-redis")]
public sealed class RedTeam7ReplicationTests(ReplicatedRedisFixture fixture)
{
    readonly string _prefix = "rt7-repl-" + Guid.NewGuid().ToString("N")[..8] + ":";
    int _runs;

    ReplicatedRedis Pair => fixture.Pair;

    // README, "Records that survive a failover": with Replicas = 1 a completion is acknowledged only once the replica
    // confirmed it; a frozen replica fails it with DedupNotReplicatedException. A store on another logical database
    // (defaultDatabase=3, a common way to share one Redis between applications) must keep that promise.
    [Fact]
    public async Task RedTeam7_DefaultDatabaseThree_ReplicaFrozen_TheCompletionIsNotAcknowledged()
    {
        await Pair.RestoreAsync();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDedup(o =>
        {
            o.KeyPrefix = _prefix;
            o.StoreRetries = 0;
            o.Durability.Replicas = 1;
            o.Durability.Timeout = TimeSpan.FromMilliseconds(300);
        });
        services.AddDedupRedisStore($"{Pair.PrimaryConnectionString},defaultDatabase=3,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
        await using var provider = services.BuildServiceProvider();
        var executor = provider.GetRequiredService<IDedupExecutor>();

        Pair.PauseReplica();
        try
        {
            var failed = await Assert.ThrowsAsync<DedupNotReplicatedException>(() => executor.ExecuteAsync("charge-1", WorkAsync));
            Assert.Equal("complete", failed.Operation);
        }
        finally
        {
            await Pair.ResumeReplicaAndCatchUpAsync();
        }
    }

    Task<int> WorkAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _runs);
        return Task.FromResult(42);
    }
}
