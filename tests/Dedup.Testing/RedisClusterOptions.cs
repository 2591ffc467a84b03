using System.Globalization;

namespace Dedup.Testing;

/// <summary>How a <see cref="RedisCluster"/> is laid out and configured.</summary>
public sealed class RedisClusterOptions
{
    /// <summary>Masters; the 16384 hash slots are split evenly between them. Default 3; 1 to 16.</summary>
    public int Masters { get; init; } = 3;

    /// <summary>
    /// Replicas of each master (replica <c>i</c> of master <c>m</c> is
    /// <c>Replicas[m * ReplicasPerMaster + i]</c>). Default 0; 0 to 2. A failover test needs at least 1.
    /// </summary>
    public int ReplicasPerMaster { get; init; }

    /// <summary>
    /// <c>cluster-node-timeout</c>: a node that does not answer the cluster bus for this long is flagged as failing,
    /// and a failing master's replica is promoted about one to two node timeouts later. Default 3 s (Redis: 15 s), short
    /// so that failover tests are quick, long enough that a node starved for CPU on a loaded 2-core machine is not failed
    /// over by mistake. 500 ms to 60 s.
    /// </summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How every node runs (persistence, memory limit, extra arguments). Default: no persistence, no limit.</summary>
    public RedisServerOptions Node { get; init; } = new();

    /// <summary>How long the start may take before it fails with the nodes' view of the cluster. Default 30 s.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    internal int NodeCount => Masters * (1 + ReplicasPerMaster);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Masters, 1, nameof(Masters));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Masters, 16, nameof(Masters));
        ArgumentOutOfRangeException.ThrowIfNegative(ReplicasPerMaster, nameof(ReplicasPerMaster));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReplicasPerMaster, 2, nameof(ReplicasPerMaster));
        ArgumentOutOfRangeException.ThrowIfLessThan(NodeTimeout, TimeSpan.FromMilliseconds(500), nameof(NodeTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(NodeTimeout, TimeSpan.FromSeconds(60), nameof(NodeTimeout));
        ArgumentNullException.ThrowIfNull(Node, nameof(Node));
    }

    /// <summary>One node's server options: <see cref="Node"/> with the cluster settings in front (its extra arguments still win).</summary>
    internal RedisServerOptions NodeOptions(int busPort) => new()
    {
        AppendOnly = Node.AppendOnly,
        MaxMemoryBytes = Node.MaxMemoryBytes,
        ExtraArgs =
        [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            // The bus port defaults to port + 10000, past 65535 for most ephemeral ports: give it its own free port.
            "--cluster-port", busPort.ToString(CultureInfo.InvariantCulture),
            "--cluster-node-timeout", ((long)NodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            // A replica's first sync would otherwise wait 5 s for more replicas to join the diskless transfer.
            "--repl-diskless-sync-delay", "0",
            .. Node.ExtraArgs,
        ],
    };
}
