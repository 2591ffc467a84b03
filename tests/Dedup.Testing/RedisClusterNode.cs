namespace Dedup.Testing;

/// <summary>One node of a <see cref="RedisCluster"/>: a local <c>redis-server</c> in cluster mode.</summary>
/// <remarks>
/// Its role can change: a failover promotes a replica and demotes its master. <see cref="IsMasterAsync"/> asks the node.
/// <see cref="RedisServer.RestartAsync"/> keeps its port and its <c>nodes.conf</c>, so a restarted node rejoins the
/// cluster by itself (call <see cref="RedisCluster.WaitUntilReadyAsync"/> before relying on it).
/// </remarks>
public sealed class RedisClusterNode
{
    internal RedisClusterNode(RedisServer server, int busPort, string id)
    {
        Server = server;
        BusPort = busPort;
        Id = id;
    }

    /// <summary>The node's server: its port, <c>redis-cli</c>, stop, restart, pause.</summary>
    public RedisServer Server { get; }

    /// <summary>The client port.</summary>
    public int Port => Server.Port;

    /// <summary>"127.0.0.1:PORT".</summary>
    public string EndPoint => Server.ConnectionString;

    /// <summary>The cluster bus port (<c>cluster-port</c>).</summary>
    public int BusPort { get; }

    /// <summary>The node id (<c>CLUSTER MYID</c>), 40 hex characters; it stays the same across restarts.</summary>
    public string Id { get; }

    /// <summary>True when the node answers <c>ROLE</c> as a master now.</summary>
    /// <param name="ct">Cancels the redis-cli run.</param>
    public async Task<bool> IsMasterAsync(CancellationToken ct = default)
    {
        var role = await Server.CliAsync(["ROLE"], ct);
        return role.StartsWith("master", StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public override string ToString() => $"cluster node {EndPoint} ({Id[..8]})";
}
