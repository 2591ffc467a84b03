using Dedup.Filters.Tests.Cluster;
using Dedup.Filters.Tests.Redis;
using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Operations;

/// <summary>
/// <see cref="DedupRecords.StatsAsync"/> on every store: records made in each state under a prefix of the test's own are
/// counted by state (exactly: the sample covers the whole keyspace), with their size and the projection.
/// </summary>
public abstract class RecordStatsTests
{
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(10);
    static readonly TimeSpan LongLease = TimeSpan.FromSeconds(60);

    protected abstract void AddStore(IServiceCollection services);

    /// <summary>Lets <paramref name="time"/> pass for the store.</summary>
    protected abstract Task PassAsync(TimeSpan time);

    /// <summary>Whether the store measures its records' memory (Redis does, with MEMORY USAGE).</summary>
    protected abstract bool MeasuresMemory { get; }

    [Fact]
    public async Task Stats_RecordsInEveryState_CountsEachStateSizeAndProjection()
    {
        await using var provider = Provider(out var prefix);
        var (store, records) = (provider.GetRequiredService<IDedupStore>(), provider.GetRequiredService<DedupRecords>());
        await SeedAsync(store, records, prefix, inProgress: 2, leaseExpired: 1, completed: 30, released: 3, forgotten: 4);

        var stats = await records.StatsAsync(sample: 1_000_000);

        Assert.True(stats.Exact, string.Join("; ", stats.Servers));
        Assert.Equal(new DedupStateCounts(InProgress: 2, LeaseExpired: 1, Completed: 30, Released: 3, Forgotten: 4), stats.Records);
        Assert.Equal(Retention, stats.Retention);
        Assert.Equal(Retention, stats.RateWindow); // the default hour, capped at the retention
        Assert.Equal(36 / Retention.TotalSeconds, stats.RecordsPerSecond, precision: 6); // tombstones are no new records
        Assert.Equal(36, stats.ProjectedRecords, precision: 6);
        if (MeasuresMemory)
            Assert.InRange(stats.BytesPerRecord!.Value, 50, 1000);
        else
            Assert.Null(stats.BytesPerRecord);
        Check(stats);
    }

    /// <summary>Store-specific checks on the same sample.</summary>
    protected virtual void Check(DedupStats stats)
    {
    }

    [Fact]
    public async Task Stats_SampleSmallerThanTheKeyspace_IsAnEstimateScaledByTheKeysScanned()
    {
        await using var provider = Provider(out var prefix);
        var (store, records) = (provider.GetRequiredService<IDedupStore>(), provider.GetRequiredService<DedupRecords>());
        await SeedAsync(store, records, prefix, inProgress: 0, leaseExpired: 0, completed: 30, released: 0, forgotten: 0);

        var stats = await records.StatsAsync(sample: 1);

        // A scan stops at the end of the page that reached the sample: a few keys of each server's 10 or more.
        Assert.False(stats.Exact);
        Assert.All(stats.Servers, s => Assert.InRange(s.KeysScanned, 1, s.Keys - 1));
        Assert.All(stats.Servers, s => Assert.Equal((double)s.Keys / s.KeysScanned, s.Scale));
    }

    ServiceProvider Provider(out string prefix)
    {
        var name = "stats-" + Guid.NewGuid().ToString("N")[..8] + ":";
        var services = new ServiceCollection();
        services.AddDedup(o =>
        {
            o.KeyPrefix = name;
            o.Retention = Retention;
        });
        AddStore(services);
        prefix = name;
        return services.BuildServiceProvider();
    }

    async Task SeedAsync(IDedupStore store, DedupRecords records, string prefix, int inProgress, int leaseExpired, int completed, int released, int forgotten)
    {
        var scope = DedupKey.Scope("stats");
        string Key() => DedupKey.ForMessageId(prefix, scope, Guid.NewGuid());
        static string Owner() => DedupKey.NewOwnerToken();

        for (var i = 0; i < inProgress; i++)
            await store.ClaimAsync(Key(), Owner(), "fp", LongLease, Retention, default);
        for (var i = 0; i < leaseExpired; i++)
        {
            // A lease cut to 1 ms has run out by the time anyone looks (as an abandoned claim's).
            var (key, owner) = (Key(), Owner());
            var claim = await store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
            await store.RenewAsync(key, owner, claim.Epoch, TimeSpan.FromMilliseconds(1), default);
        }

        for (var i = 0; i < completed + forgotten; i++)
        {
            var (key, owner) = (Key(), Owner());
            var claim = await store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
            await store.CompleteAsync(key, owner, claim.Epoch, "{}"u8.ToArray(), Retention, default);
            if (i >= completed)
                Assert.Equal(DedupForgetOutcome.Forgotten, (await records.ForgetAsync(key)).Outcome);
        }

        for (var i = 0; i < released; i++)
        {
            var (key, owner) = (Key(), Owner());
            var claim = await store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
            await store.ReleaseAsync(key, owner, claim.Epoch, default);
        }

        await PassAsync(TimeSpan.FromMilliseconds(5)); // the 1 ms leases run out
    }
}

public sealed class InMemoryRecordStatsTests : RecordStatsTests
{
    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));

    protected override bool MeasuresMemory => false;

    protected override void AddStore(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time).AddDedupInMemoryStore();

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }
}

/// <summary>The sampled stores on Redis: they measure their records' memory, and only real time passes for them.</summary>
public abstract class RedisRecordStatsTestsBase(string configuration) : RecordStatsTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(configuration);

    protected override bool MeasuresMemory => true;

    protected override void AddStore(IServiceCollection services) => services.AddDedupRedisStore(_ => _connection);

    protected override Task PassAsync(TimeSpan time) => Task.Delay(time);

    public void Dispose() => _connection.Dispose();
}

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisRecordStatsTests(RedisFixture redis) : RedisRecordStatsTestsBase(redis.Server.ConnectionString)
{
    protected override void Check(DedupStats stats)
    {
        var server = Assert.Single(stats.Servers);
        Assert.False(stats.IsCluster);
        Assert.Equal(server.Keys, server.KeysScanned);
    }
}

/// <summary>On a three-master cluster the records are spread over the masters, and each master is scanned.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterRecordStatsTests(RedisClusterFixture cluster) : RedisRecordStatsTestsBase(cluster.Cluster.ConnectionString)
{
    protected override void Check(DedupStats stats)
    {
        Assert.True(stats.IsCluster);
        Assert.Equal(cluster.Cluster.Masters.Select(m => m.EndPoint).Order(StringComparer.Ordinal), stats.Servers.Select(s => s.Server));

        // 40 records with random keys: every master holds some (all on two of three: 3 * (2/3)^40, about 3e-7).
        Assert.All(stats.Servers, s => Assert.True(s.Sampled.Total > 0, $"{s.Server} holds no record"));
    }
}
