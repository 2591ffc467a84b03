using Dedup.Testing;
using Dedup.Worker.Health;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Xunit;

namespace Dedup.Worker.Tests;

[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis cluster";
}

/// <summary>The worker's start-up check and health check on a local three-master Redis Cluster: each looks at every master.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterCheckTests(RedisClusterFixture fixture)
{
    const int ClusterEvent = 1012, EvictionEvent = 1001, NoPersistenceEvent = 1002;

    RedisCluster Cluster => fixture.Cluster;

    static RedisStartupCheck StartupCheck(ListLogger logger, TimeSpan? timeout = null) =>
        new(new RedisSettings { ConnectTimeout = timeout ?? TimeSpan.FromSeconds(5) }, logger);

    static string List(IEnumerable<RedisClusterNode> nodes) => string.Join(", ", nodes.Select(n => n.EndPoint).Order(StringComparer.Ordinal));

    [Fact]
    public async Task StartupCheck_GivenOneNodeOfACluster_LogsTheClusterWithEveryMaster()
    {
        var logger = new ListLogger();

        var topology = await StartupCheck(logger).CheckAsync("dedup store", "Redis:Configuration", Cluster.Masters[1].EndPoint, inspect: false, default);

        Assert.True(topology.IsCluster);
        var line = Assert.Single(logger.Messages(ClusterEvent));
        Assert.Contains($"cluster of 3 masters ({List(Cluster.Masters)}) and 0 replicas", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartupCheck_OnACluster_WarnsNamingEveryMasterThatCanEvictOrForgetRecords()
    {
        var (evicting, persistent) = (Cluster.Masters[1], Cluster.Masters[0]);
        await evicting.Server.CliAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lru");
        await persistent.Server.CliAsync("CONFIG", "SET", "appendonly", "yes");
        try
        {
            var logger = new ListLogger();

            await StartupCheck(logger).CheckAsync("dedup store", "Redis:Configuration", Cluster.ConnectionString, inspect: true, default);

            var eviction = Assert.Single(logger.Messages(EvictionEvent));
            Assert.Contains($"at {evicting.EndPoint}: maxmemory-policy is allkeys-lru", eviction, StringComparison.Ordinal);
            var persistence = Assert.Single(logger.Messages(NoPersistenceEvent));
            Assert.Contains($"at {List(Cluster.Masters.Except([persistent]))}: no persistence", persistence, StringComparison.Ordinal);
        }
        finally
        {
            await evicting.Server.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
            await persistent.Server.CliAsync("CONFIG", "SET", "appendonly", "no");
        }
    }

    [Fact]
    public async Task StartupCheck_OnAClusterWithAMasterThatDoesNotAnswer_FailsNamingIt()
    {
        var silent = Cluster.Masters[2];
        await silent.Server.CliAsync("CLIENT", "PAUSE", "2500", "ALL");
        try
        {
            var check = StartupCheck(new ListLogger(), TimeSpan.FromSeconds(1));

            var failure = await Assert.ThrowsAsync<StartupCheckException>(() =>
                check.CheckAsync("dedup store", "Redis:Configuration", Cluster.Masters[0].EndPoint, inspect: false, default));

            Assert.Contains($"{silent.EndPoint} (", failure.Message, StringComparison.Ordinal);
            Assert.Contains("did not answer PING", failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            await silent.Server.CliAsync("PING"); // answered once the pause is over
        }
    }

    [Fact]
    public async Task HealthCheck_OnACluster_IsHealthyWhenEveryMasterAnswers()
    {
        await using var connections = new RedisConnections(new RedisSettings { Configuration = Cluster.Masters[0].EndPoint }, new LedgerSettings());

        var result = await new RedisHealthCheck(connections, TimeSpan.FromSeconds(5)).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(3, result.Data["dedupMasters"]);
    }

    [Fact]
    public async Task HealthCheck_OnACluster_IsUnhealthyNamingTheMasterThatDoesNotAnswer()
    {
        await using var connections = new RedisConnections(new RedisSettings { Configuration = Cluster.ConnectionString }, new LedgerSettings());
        _ = connections.Dedup; // connected while every master answers
        var silent = Cluster.Masters[1];
        await silent.Server.CliAsync("CLIENT", "PAUSE", "2000", "ALL");
        try
        {
            var result = await new RedisHealthCheck(connections, TimeSpan.FromMilliseconds(500)).CheckHealthAsync(new HealthCheckContext());

            Assert.Equal(HealthStatus.Unhealthy, result.Status);
            Assert.Contains($"dedup at {silent.EndPoint}", result.Description, StringComparison.Ordinal);
            Assert.All(Cluster.Masters.Except([silent]), m => Assert.DoesNotContain(m.EndPoint, result.Description, StringComparison.Ordinal));
        }
        finally
        {
            await silent.Server.CliAsync("PING"); // answered once the pause is over
        }
    }
}
