using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Cluster;

/// <summary>Tests that share one local three-master Redis Cluster (started once for the collection, in about 2 s).</summary>
[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisClusterFixture>
{
    public const string Name = "redis cluster";
}

/// <summary>Where a cluster puts a key and the store's subscription.</summary>
internal static class ClusterPlacement
{
    /// <summary>The master that serves <paramref name="key"/>'s hash slot.</summary>
    public static string MasterOf(IConnectionMultiplexer connection, string key) =>
        connection.GetDatabase().IdentifyEndpoint(key)?.ToString() ?? throw new InvalidOperationException($"No endpoint serves '{key}'.");

    /// <summary>The node the store's notification channel (<c>&lt;prefix&gt;__events</c>) is subscribed on.</summary>
    public static string SubscriptionOf(IConnectionMultiplexer connection, string prefix) =>
        connection.GetSubscriber().SubscribedEndpoint(RedisChannel.Literal(prefix + "__events"))?.ToString()
        ?? throw new InvalidOperationException($"'{prefix}__events' is not subscribed: claim once first.");
}
