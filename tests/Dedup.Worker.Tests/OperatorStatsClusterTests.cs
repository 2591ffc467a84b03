using System.Text.Json;
using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Testing;
using Dedup.Worker.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace Dedup.Worker.Tests;

/// <summary>Issue 13: <c>Dedup.Worker stats</c> as a process on a three-master Redis Cluster scans every master.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class OperatorStatsClusterTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    [Fact]
    public async Task Stats_OnACluster_CountsTheRecordsOfEveryMasterByState()
    {
        var prefix = $"stats-{Guid.NewGuid():N}:"[..15];
        var cluster = fixture.Cluster;
        var services = new ServiceCollection();
        services.AddDedup(o => o.KeyPrefix = prefix).AddDedupRedisStore(cluster.ConnectionString);
        await using (var provider = services.BuildServiceProvider())
        {
            var (store, records) = (provider.GetRequiredService<IDedupStore>(), provider.GetRequiredService<DedupRecords>());
            for (var i = 0; i < 30; i++)
            {
                var (key, owner) = (records.KeyForMessage(Guid.NewGuid(), "payments", "Billing.ChargeConsumer"), DedupKey.NewOwnerToken());
                var claim = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
                if (i % 10 == 0)
                    continue; // 3 in progress
                await store.CompleteAsync(key, owner, claim.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default);
                if (i % 10 == 1)
                    await records.ForgetAsync(key); // 3 forgotten, 24 completed
            }
        }

        var environment = new Dictionary<string, string>
        {
            ["Redis__Configuration"] = cluster.Masters[0].EndPoint, // one node: the connection finds the others
            ["Dedup__KeyPrefix"] = prefix,
            ["Dedup__Retention"] = "01:00:00",
        };
        var human = await WorkerProcess.RunAsync(environment, TimeSpan.FromSeconds(30), "stats");
        var json = await WorkerProcess.RunAsync(environment, TimeSpan.FromSeconds(30), "stats", "--json");
        output.WriteLine($"$ Dedup.Worker stats\n{human.Output}");

        Assert.Equal((0, 0), (human.ExitCode, json.ExitCode));
        var stats = JsonDocument.Parse(json.Output).RootElement;
        var counts = stats.GetProperty("records");
        Assert.Equal((3L, 24L, 3L), (counts.GetProperty("inProgress").GetInt64(), counts.GetProperty("completed").GetInt64(), counts.GetProperty("forgotten").GetInt64()));
        Assert.True(stats.GetProperty("isCluster").GetBoolean());
        Assert.Equal(
            cluster.Masters.Select(m => m.EndPoint).Order(StringComparer.Ordinal),
            stats.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("server").GetString()));
        Assert.Contains("Redis Cluster, 3 masters", human.Output, StringComparison.Ordinal);
    }
}
