using Dedup.Filters.Tests.Contract;
using Dedup.Filters.Tests.Redis;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Cluster;

/// <summary>The store contract on a three-master cluster: every transition works whichever master serves the key.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterStoreContractTests(RedisClusterFixture cluster) : StoreContractTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(cluster.Cluster.ConnectionString);
    IDedupStore? _store;

    private protected override IDedupStore Store => _store ??= RedisTestConnections.Store(_connection, "contract:");

    protected override Task RemoveKeyAsync(string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    // Each master takes its times from its own clock: only real time passes for them.
    protected override Task PassAsync(TimeSpan time) => Task.Delay(time);

    public void Dispose() => _connection.Dispose();
}
