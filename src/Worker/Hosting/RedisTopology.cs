using System.Diagnostics;
using System.Net;
using StackExchange.Redis;

namespace Dedup.Worker.Hosting;

/// <summary>
/// The servers a Redis connection writes to: the one server, or every master of a Redis Cluster. On a cluster each
/// master holds the records of its share of the hash slots, so each must answer and each must keep its records
/// (README, "Redis Cluster").
/// </summary>
internal sealed class RedisTopology
{
    RedisTopology(bool isCluster, IReadOnlyList<EndPoint> masters, int replicas)
    {
        IsCluster = isCluster;
        Masters = masters;
        Replicas = replicas;
    }

    /// <summary>True when the connection reached a Redis Cluster.</summary>
    public bool IsCluster { get; }

    /// <summary>The servers that take writes: the masters that serve hash slots on a cluster, else the primary.</summary>
    public IReadOnlyList<EndPoint> Masters { get; }

    /// <summary>Replicas the connection knows of.</summary>
    public int Replicas { get; }

    /// <summary>The masters as "host:port, host:port".</summary>
    public string MasterList => string.Join(", ", Masters.Select(Format));

    /// <summary>
    /// Reads the layout from what the connection learnt at connect and keeps up to date (a cluster's node table, from
    /// <c>CLUSTER NODES</c>), so it needs no admin commands. Masters come out in endpoint order.
    /// </summary>
    public static RedisTopology Of(IConnectionMultiplexer connection)
    {
        var servers = connection.GetServers();
        var nodes = servers.Where(s => s.ServerType == ServerType.Cluster && s.IsConnected)
            .Select(s => s.ClusterConfiguration)
            .FirstOrDefault(c => c is not null);
        if (nodes is not null)
        {
            var masters = nodes.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0 && n.EndPoint is not null).Select(n => n.EndPoint!);
            return new RedisTopology(true, Sorted(masters), nodes.Nodes.Count(n => n.IsReplica));
        }

        // A primary named with its replicas: after a failover the old primary, while down, keeps the role it had when the
        // connection last reached it, beside the promoted replica. The primary is the one that answers as such; only
        // when none does is a silent one reported (so a single server that is down stays a master that does not answer).
        var primaries = servers.Where(s => !s.IsReplica).ToArray();
        var reached = primaries.Where(s => s.IsConnected).ToArray();
        return new RedisTopology(false, Sorted((reached.Length > 0 ? reached : primaries).Select(s => s.EndPoint)), servers.Count(s => s.IsReplica));
    }

    /// <summary>PINGs every master at once; each answer is its round trip or why it failed.</summary>
    /// <param name="connection">The connection the topology was read from.</param>
    /// <param name="timeout">How long each master may take.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public Task<MasterAnswer[]> PingMastersAsync(IConnectionMultiplexer connection, TimeSpan timeout, CancellationToken cancellationToken) =>
        Task.WhenAll(Masters.Select(async master =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await connection.GetServer(master).PingAsync().WaitAsync(timeout, cancellationToken);
                return new MasterAnswer(master, Stopwatch.GetElapsedTime(started), null);
            }
            catch (Exception exception) when (exception is RedisException or TimeoutException or ArgumentException)
            {
                // ArgumentException: the node table names a master this connection has no endpoint for.
                return new MasterAnswer(master, null, exception.Message);
            }
        }));

    /// <summary>"host:port" (an <see cref="EndPoint"/>'s own text for IP endpoints is the same; DNS ones differ).</summary>
    public static string Format(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "?",
    };

    static EndPoint[] Sorted(IEnumerable<EndPoint> endPoints) => [.. endPoints.OrderBy(Format, StringComparer.Ordinal)];
}

/// <summary>One master's answer to PING: its round trip, or the reason it gave none.</summary>
internal sealed record MasterAnswer(EndPoint Master, TimeSpan? RoundTrip, string? Failure)
{
    public override string ToString() => $"{RedisTopology.Format(Master)} ({Failure})";
}
