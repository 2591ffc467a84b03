using Dedup.Testing;
using Dedup.Worker.Health;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;
using Xunit;

namespace Dedup.Worker.Tests;

[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class ReplicatedRedisCollection : ICollectionFixture<ReplicatedRedisFixture>
{
    public const string Name = "replicated redis";
}

/// <summary>
/// The worker's Redis connection and start-up check on a primary and a replica named together in
/// <c>Redis:Configuration</c>, across a failover without Sentinel: the primary SIGKILLed, the replica promoted with
/// <c>REPLICAOF NO ONE</c> (by an operator or a script).
/// </summary>
[Trait("Needs", "Redis")]
[Collection(ReplicatedRedisCollection.Name)]
public sealed class RedisFailoverTests(ReplicatedRedisFixture fixture)
{
    ReplicatedRedis Pair => fixture.Pair;

    [Fact]
    public async Task Connection_AfterThePrimaryDiedAndTheReplicaWasPromoted_WritesToThePromotedReplicaWithinSeconds()
    {
        await Pair.RestoreAsync();
        var both = $"{Pair.PrimaryConnectionString},{Pair.ReplicaConnectionString}";
        await using var connections = new RedisConnections(new RedisSettings { Configuration = both }, new LedgerSettings());
        var db = connections.Dedup.GetDatabase();
        await db.StringSetAsync("before", "1");

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        // Until StackExchange.Redis reads the promoted node's role again, writes go to the dead primary and fail (claims
        // fail closed); it did so every 60 s before the worker set configCheckSeconds, now every second. A write sent
        // before that waits out its timeout in the dead primary's backlog (asyncTimeout, 5 s): measured 6 s in all.
        await Eventually.UntilAsync(
            async () =>
            {
                try
                {
                    return await db.StringSetAsync("after", "1");
                }
                catch (RedisException)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(15),
            () => $"no write reached the promoted replica {Pair.PrimaryConnectionString}; the connection sees {string.Join(", ", connections.Dedup.GetServers().Select(s => $"{s.EndPoint} replica={s.IsReplica} connected={s.IsConnected}"))}");
        Assert.Equal("1", await Pair.PrimaryCliAsync("GET", "after"));
    }

    [Fact]
    public async Task HealthCheck_AfterAFailoverWithTheOldPrimaryStillDown_IsHealthyOnThePromotedReplica()
    {
        await Pair.RestoreAsync();
        var both = $"{Pair.PrimaryConnectionString},{Pair.ReplicaConnectionString}";
        await using var connections = new RedisConnections(new RedisSettings { Configuration = both }, new LedgerSettings());
        var health = new RedisHealthCheck(connections, TimeSpan.FromSeconds(1));
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        // The old primary, down, keeps its last known role in the connection; it must not count as a master that is silent.
        HealthCheckResult result = default;
        await Eventually.UntilAsync(
            async () => (result = await health.CheckHealthAsync(new HealthCheckContext())).Status == HealthStatus.Healthy,
            TimeSpan.FromSeconds(5),
            () => $"still {result.Status}: {result.Description}");
    }

    [Fact]
    public async Task StartupCheck_AfterAFailoverWithTheOldPrimaryStillDown_PassesOnThePromotedReplica()
    {
        await Pair.RestoreAsync();
        var both = $"{Pair.PrimaryConnectionString},{Pair.ReplicaConnectionString}";
        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();
        var check = new RedisStartupCheck(new RedisSettings { ConnectTimeout = TimeSpan.FromSeconds(2) }, new ListLogger());

        var topology = await check.CheckAsync("dedup store", "Redis:Configuration", both, inspect: true, default);

        Assert.Equal([Pair.PrimaryConnectionString], topology.Masters.Select(RedisTopology.Format));
    }
}
