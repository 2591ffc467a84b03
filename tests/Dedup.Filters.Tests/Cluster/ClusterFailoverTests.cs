using Dedup.Filters.Tests.Redis;
using Dedup.Protocol;
using Dedup.Testing;

namespace Dedup.Filters.Tests.Cluster;

/// <summary>A master failover under a claim (a cluster of its own, with one replica per master).</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterFailoverTests
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);

    // A manual CLUSTER FAILOVER waits until the replica has every write of its master, so the claim survives it; an
    // automatic failover after a crash may lose the last writes (README, "Redis Cluster").
    [Fact]
    public async Task ManualFailover_OfTheMasterHoldingAClaim_TheOwnerStillCompletes_AndACopyIsADuplicate()
    {
        await using var cluster = await RedisCluster.StartAsync(new RedisClusterOptions { ReplicasPerMaster = 1 });
        using var connection = RedisTestConnections.Connect(cluster.ConnectionString);
        var store = RedisTestConnections.Store(connection, "failover:");
        var (key, owner) = (DedupKey.ForMessageId("failover:", DedupKey.Scope("failover"), Guid.NewGuid()), Guid.NewGuid().ToString("N"));
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        var master = cluster.Masters.Single(m => m.EndPoint == ClusterPlacement.MasterOf(connection, key));
        var replica = cluster.Replicas[cluster.Masters.ToList().IndexOf(master)];

        await cluster.FailoverAsync(replica);

        Assert.True(await store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default));
        var copy = await store.ClaimAsync(key, Guid.NewGuid().ToString("N"), "fp", Lease, Retention, default);
        Assert.Equal(ClaimOutcome.Duplicate, copy.Outcome);
        Assert.Equal(replica.EndPoint, ClusterPlacement.MasterOf(connection, key));
    }
}
