using Dedup.Filters.Tests.Redis;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Cluster;

/// <summary>What only a cluster can show: keys spread over the masters by their hash tag, and waiters woken across masters.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterStoreTests(RedisClusterFixture fixture) : IDisposable
{
    static readonly TimeSpan LongLease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);

    // Far below LongLease: a waiter that missed the notification would sleep until the holder's lease ran out.
    static readonly TimeSpan Promptly = TimeSpan.FromSeconds(5);

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(fixture.Cluster.ConnectionString);

    public void Dispose() => _connection.Dispose();

    static string NewKey(string prefix) => DedupKey.ForMessageId(prefix, DedupKey.Scope("cluster-tests"), Guid.NewGuid());

    static string NewOwner() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task KeysOfDistinctMessages_SpreadOverEveryMaster_EachInTheSlotOfItsHashTag()
    {
        var store = RedisTestConnections.Store(_connection, "spread:");
        var keys = Enumerable.Range(0, 60).Select(_ => NewKey("spread:")).ToArray();

        foreach (var key in keys)
        {
            var owner = NewOwner();
            var claimed = await store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
            Assert.True(await store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default));
            Assert.Equal(ClaimOutcome.Duplicate, (await store.ClaimAsync(key, NewOwner(), "fp", LongLease, Retention, default)).Outcome);
        }

        var masters = fixture.Cluster.Masters.Select(m => m.EndPoint).Order(StringComparer.Ordinal);
        Assert.Equal(masters, keys.Select(k => ClusterPlacement.MasterOf(_connection, k)).Distinct().Order(StringComparer.Ordinal));
        var node = fixture.Cluster.Masters[0].Server;
        foreach (var key in keys.Take(5))
        {
            var tag = key[(key.IndexOf('{') + 1)..key.IndexOf('}')];
            Assert.Equal(await node.CliAsync("CLUSTER", "KEYSLOT", tag), await node.CliAsync("CLUSTER", "KEYSLOT", key));
        }
    }

    [Theory]
    [InlineData("completes")]
    [InlineData("releases")]
    public async Task Watch_KeyOnAnotherMasterThanTheSubscription_FiresPromptlyWhenTheOwner(string finishes)
    {
        var (store, key) = await StoreAndKeyAwayFromTheSubscriptionAsync($"wake-{finishes}:");
        var owner = NewOwner();
        var claimed = await store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
        using var watch = store.Watch(key);
        Assert.Equal(ClaimOutcome.Busy, (await store.ClaimAsync(key, NewOwner(), "fp", LongLease, Retention, default)).Outcome);

        Assert.True(finishes == "completes"
            ? await store.CompleteAsync(key, owner, claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default)
            : await store.ReleaseAsync(key, owner, claimed.Epoch, default));

        await watch.Changed.WaitAsync(Promptly);
    }

    /// <summary>A store on the shared connection (subscribed after a first claim) and a key served by another master than the subscription's node.</summary>
    async Task<(IDedupStore Store, string Key)> StoreAndKeyAwayFromTheSubscriptionAsync(string prefix)
    {
        var store = RedisTestConnections.Store(_connection, prefix);
        await store.ClaimAsync(NewKey(prefix), NewOwner(), "fp", LongLease, Retention, default); // subscribes
        var subscription = ClusterPlacement.SubscriptionOf(_connection, prefix);
        Assert.Contains(subscription, fixture.Cluster.Masters.Select(m => m.EndPoint));

        // Two thirds of the keys qualify; the odds that 64 in a row do not are nil.
        var key = Enumerable.Range(0, 64).Select(_ => NewKey(prefix)).First(k => ClusterPlacement.MasterOf(_connection, k) != subscription);
        return (store, key);
    }
}
