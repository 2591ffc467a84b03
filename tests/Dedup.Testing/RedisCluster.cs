using System.Diagnostics;
using System.Globalization;

namespace Dedup.Testing;

/// <summary>
/// A throwaway Redis Cluster for tests: local <c>redis-server</c> processes in cluster mode on free loopback ports
/// (masters with the hash slots split evenly, optionally replicas), formed with <c>CLUSTER ADDSLOTSRANGE</c>,
/// <c>CLUSTER MEET</c> and <c>CLUSTER REPLICATE</c>. Dispose it to remove every node and its data directory.
/// </summary>
/// <remarks>
/// Always local binaries, also where a Docker engine answers: the nodes announce 127.0.0.1 and their own ports to each
/// other and to clients, which container port mappings would break. A start takes about 2 s, most of it Redis's own
/// delay before a new master accepts writes.
/// </remarks>
public sealed class RedisCluster : IAsyncDisposable
{
    /// <summary>The number of hash slots of every Redis Cluster.</summary>
    public const int HashSlots = 16384;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly RedisClusterOptions _options;
    private int _disposed;

    private RedisCluster(RedisClusterOptions options, IReadOnlyList<RedisClusterNode> nodes)
    {
        _options = options;
        Nodes = nodes;
        Masters = nodes.Take(options.Masters).ToArray();
        Replicas = nodes.Skip(options.Masters).ToArray();
    }

    /// <summary>Every node: the masters first, then the replicas.</summary>
    public IReadOnlyList<RedisClusterNode> Nodes { get; }

    /// <summary>The nodes started as masters, in slot order (master 0 serves the lowest slots).</summary>
    public IReadOnlyList<RedisClusterNode> Masters { get; }

    /// <summary>The nodes started as replicas: <c>Replicas[m * ReplicasPerMaster + i]</c> replicates <c>Masters[m]</c>.</summary>
    public IReadOnlyList<RedisClusterNode> Replicas { get; }

    /// <summary>The StackExchange.Redis configuration string listing every node: "127.0.0.1:P1,127.0.0.1:P2,...".</summary>
    public string ConnectionString => string.Join(',', Nodes.Select(n => n.EndPoint));

    /// <summary>Starts the nodes, forms the cluster and returns once every node reports <c>cluster_state:ok</c>.</summary>
    /// <param name="options">Masters, replicas, node timeout, per-node options; null for three masters without replicas.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">No local redis-server (run ./test.sh), or a node refused a step.</exception>
    /// <exception cref="TimeoutException">The cluster did not form within <see cref="RedisClusterOptions.ReadyTimeout"/>.</exception>
    public static async Task<RedisCluster> StartAsync(RedisClusterOptions? options = null, CancellationToken ct = default)
    {
        options ??= new RedisClusterOptions();
        options.Validate();

        var busPorts = FreePort.Next(options.NodeCount);
        var starts = busPorts.Select(port => RedisServer.StartLocalAsync(options.NodeOptions(port), ct)).ToArray();
        try
        {
            await Task.WhenAll(starts);
        }
        catch
        {
            foreach (var start in starts.Where(s => s.IsCompletedSuccessfully))
            {
                await start.Result.DisposeAsync();
            }

            throw;
        }

        var servers = starts.Select(s => s.Result).ToArray();
        RedisCluster? cluster = null;
        try
        {
            var ids = await Task.WhenAll(servers.Select(s => s.CliAsync(["CLUSTER", "MYID"], ct)));
            cluster = new RedisCluster(options, servers.Select((s, i) => new RedisClusterNode(s, busPorts[i], ids[i])).ToArray());
            await cluster.FormAsync(ct);
            return cluster;
        }
        catch
        {
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
            else
            {
                await Task.WhenAll(servers.Select(s => s.DisposeAsync().AsTask()));
            }

            throw;
        }
    }

    /// <summary>
    /// Waits until every running node reports <c>cluster_state:ok</c>, sees every other running node as healthy and the
    /// same masters serving slots, and every running replica is in sync with its master (after a restart, a failover).
    /// </summary>
    /// <param name="ct">Cancels the wait.</param>
    /// <exception cref="TimeoutException">Not ready within <see cref="RedisClusterOptions.ReadyTimeout"/>; the message says what was missing.</exception>
    public Task WaitUntilReadyAsync(CancellationToken ct = default) => WaitAsync("ready", NotReadyAsync, ct);

    /// <summary>
    /// Promotes <paramref name="replica"/> with a manual <c>CLUSTER FAILOVER</c> (coordinated with its master, so no
    /// acknowledged write is lost) and waits until every node sees it as the master of its slots.
    /// </summary>
    /// <param name="replica">A replica of a running master.</param>
    /// <param name="ct">Cancels the wait.</param>
    /// <exception cref="InvalidOperationException">The node refused (it is a master, or its master is down).</exception>
    /// <exception cref="TimeoutException">The failover did not finish within <see cref="RedisClusterOptions.ReadyTimeout"/>.</exception>
    public async Task FailoverAsync(RedisClusterNode replica, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(replica);
        ThrowIfDisposed();
        await ExpectOkAsync(replica, ["CLUSTER", "FAILOVER"], ct);
        await WaitAsync($"{replica} to be a master", async token =>
        {
            foreach (var view in await ViewsAsync(token))
            {
                if (!view.Nodes.Any(n => n.Id == replica.Id && n.IsMaster && n.ServesSlots))
                {
                    return $"{view.Node} does not see {replica} as a master with slots yet";
                }
            }

            return await NotReadyAsync(token);
        }, ct);
    }

    /// <summary>Kills every node and deletes their data directories.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Task.WhenAll(Nodes.Select(n => n.Server.DisposeAsync().AsTask()));
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"Redis Cluster of {Masters.Count} masters and {Replicas.Count} replicas at {ConnectionString} (local processes)";

    private async Task FormAsync(CancellationToken ct)
    {
        var slotsPerMaster = HashSlots / Masters.Count;
        await Task.WhenAll(Masters.Select((master, m) =>
        {
            var first = m * slotsPerMaster;
            var last = m == Masters.Count - 1 ? HashSlots - 1 : first + slotsPerMaster - 1;
            return ExpectOkAsync(master, ["CLUSTER", "ADDSLOTSRANGE", Text(first), Text(last)], ct);
        }));

        // Every node meets every earlier one: learning of the others through gossip instead takes a second or more.
        await Task.WhenAll(Nodes.Select(async (node, j) =>
        {
            foreach (var earlier in Nodes.Take(j))
            {
                await ExpectOkAsync(node, ["CLUSTER", "MEET", "127.0.0.1", Text(earlier.Port), Text(earlier.BusPort)], ct);
            }
        }));
        await WaitAsync("every node to know every other", async token =>
        {
            foreach (var view in await ViewsAsync(token))
            {
                if (view.Nodes.Count != Nodes.Count || view.Nodes.Any(n => n.Flags.Contains("handshake") || n.Flags.Contains("noaddr")))
                {
                    return $"{view.Node} knows {view.Nodes.Count(n => !n.Flags.Contains("handshake"))} of {Nodes.Count} nodes";
                }
            }

            return null;
        }, ct);

        await Task.WhenAll(Replicas.Select((replica, i) =>
            ExpectOkAsync(replica, ["CLUSTER", "REPLICATE", Masters[i / _options.ReplicasPerMaster].Id], ct)));
        await WaitUntilReadyAsync(ct);
    }

    private async Task<string?> NotReadyAsync(CancellationToken ct)
    {
        var running = Nodes.Where(n => n.Server.IsRunning).ToArray();
        var views = await ViewsAsync(ct);
        string? mastersSeen = null;
        foreach (var view in views)
        {
            var info = await view.Node.Server.CliAsync(["CLUSTER", "INFO"], ct);
            if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                return $"{view.Node} reports {Line(info, "cluster_state")}";
            }

            var failing = view.Nodes.FirstOrDefault(n => running.Any(r => r.Id == n.Id) && (n.Flags.Contains("fail") || n.Flags.Contains("fail?")));
            if (failing is not null)
            {
                return $"{view.Node} still flags the running node {failing.Id[..8]} as {string.Join(',', failing.Flags)}";
            }

            var masters = string.Join(' ', view.Nodes.Where(n => n.IsMaster && n.ServesSlots).Select(n => n.Id).Order(StringComparer.Ordinal));
            if (mastersSeen is not null && masters != mastersSeen)
            {
                return $"the nodes do not agree yet on which masters serve the slots ({view.Node} sees {masters})";
            }

            mastersSeen = masters;
            var self = view.Nodes.Single(n => n.Id == view.Node.Id);
            if (!self.IsMaster)
            {
                var replication = await view.Node.Server.CliAsync(["INFO", "replication"], ct);
                if (!replication.Contains("master_link_status:up", StringComparison.Ordinal))
                {
                    return $"the replica {view.Node} is not in sync with its master yet ({Line(replication, "master_link_status")})";
                }
            }
        }

        return null;
    }

    /// <summary>What each running node's <c>CLUSTER NODES</c> says.</summary>
    private async Task<NodeView[]> ViewsAsync(CancellationToken ct)
    {
        var running = Nodes.Where(n => n.Server.IsRunning).ToArray();
        var outputs = await Task.WhenAll(running.Select(n => n.Server.CliAsync(["CLUSTER", "NODES"], ct)));
        return running.Select((node, i) => new NodeView(node, ParseNodes(outputs[i]))).ToArray();
    }

    private async Task WaitAsync(string what, Func<CancellationToken, Task<string?>> problem, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            ThrowIfDisposed(); // an ObjectDisposedException from a node is an InvalidOperationException: not "try again"
            string? missing;
            try
            {
                missing = await problem(ct);
            }
            catch (InvalidOperationException exception)
            {
                // redis-cli could not connect (a node starting or loading): try again.
                missing = exception.Message;
            }

            if (missing is null)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > _options.ReadyTimeout)
            {
                throw new TimeoutException(
                    $"Waited {_options.ReadyTimeout.TotalSeconds:0.#} s for {what} ({this}), in vain: {missing}. " +
                    "Check that nothing else uses the ports and that the machine is not overloaded; RedisClusterOptions.ReadyTimeout sets the wait.");
            }

            await Task.Delay(PollInterval, ct);
        }
    }

    private static async Task ExpectOkAsync(RedisClusterNode node, string[] command, CancellationToken ct)
    {
        var reply = await node.Server.CliAsync(command, ct);
        if (reply != "OK")
        {
            throw new InvalidOperationException($"{node} answered '{reply}' to {string.Join(' ', command)}; expected OK.");
        }
    }

    private static ClusterNodeLine[] ParseNodes(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 8)
            .Select(fields => new ClusterNodeLine(fields[0], fields[2].Split(','), ServesSlots: fields.Length > 8))
            .ToArray();

    private static string Line(string info, string field) =>
        info.Split('\n', StringSplitOptions.TrimEntries).FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal)) ?? $"no {field}";

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>One line of <c>CLUSTER NODES</c>: id, flags (myself, master, slave, fail?, fail, handshake, ...), slots.</summary>
    private sealed record ClusterNodeLine(string Id, string[] Flags, bool ServesSlots)
    {
        public bool IsMaster => Flags.Contains("master");
    }

    /// <summary>The cluster as <paramref name="Node"/> sees it.</summary>
    private sealed record NodeView(RedisClusterNode Node, IReadOnlyList<ClusterNodeLine> Nodes);
}
