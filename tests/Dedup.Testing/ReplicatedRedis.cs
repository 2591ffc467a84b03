using System.Globalization;

namespace Dedup.Testing;

/// <summary>
/// A Redis primary and one replica (<c>--replicaof</c>), local <c>redis-server</c> processes on free loopback ports,
/// for failover tests: kill the primary (SIGKILL), promote the replica (<c>REPLICAOF NO ONE</c>), bring the killed node
/// back as the new primary's replica, cut or freeze the replica's link. <see cref="RestoreAsync"/> brings a primary with
/// a live replica back after any of these, so one pair serves a whole test collection.
/// </summary>
/// <remarks>
/// Always local processes, also where a Docker engine answers: replication between two containers needs a network of
/// their own, and SIGKILL and SIGSTOP need the process. No persistence: a node that was killed starts again empty and
/// fetches everything from the primary (diskless full sync, without the default 5 s delay).
/// </remarks>
public sealed class ReplicatedRedis : IAsyncDisposable
{
    private const int SigKill = 9;
    private static readonly TimeSpan LinkTimeout = TimeSpan.FromSeconds(30);
    private static readonly RedisServerOptions NodeOptions = new()
    {
        ExtraArgs = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"],
    };

    private LocalRedis _primary;
    private LocalRedis _replica;

    private ReplicatedRedis(LocalRedis primary, LocalRedis replica)
    {
        _primary = primary;
        _replica = replica;
    }

    /// <summary>The primary's StackExchange.Redis connection string; after <see cref="PromoteReplicaAsync"/>, the promoted node's.</summary>
    public string PrimaryConnectionString => $"{_primary.Host}:{_primary.Port}";

    /// <summary>The replica's StackExchange.Redis connection string.</summary>
    public string ReplicaConnectionString => $"{_replica.Host}:{_replica.Port}";

    /// <summary>Starts both nodes and returns once the replica's link to the primary is up.</summary>
    /// <exception cref="InvalidOperationException">No local redis-server (run ./test.sh, which installs it).</exception>
    public static async Task<ReplicatedRedis> StartAsync(CancellationToken ct = default)
    {
        var primary = await LocalRedis.StartAsync(NodeOptions, ct);
        LocalRedis? replica = null;
        try
        {
            replica = await LocalRedis.StartAsync(NodeOptions, ct);
            var pair = new ReplicatedRedis(primary, replica);
            await pair.FollowPrimaryAsync(ct);
            return pair;
        }
        catch
        {
            await primary.DisposeAsync();
            if (replica is not null)
            {
                await replica.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Runs redis-cli against the primary and returns its trimmed output (errors come back as text).</summary>
    public Task<string> PrimaryCliAsync(params string[] args) => CliAsync(_primary, args, CancellationToken.None);

    /// <summary>Runs redis-cli against the replica and returns its trimmed output (errors come back as text).</summary>
    public Task<string> ReplicaCliAsync(params string[] args) => CliAsync(_replica, args, CancellationToken.None);

    /// <summary>Kills the primary with SIGKILL (no shutdown, no waiting for replicas) and waits until it is gone.</summary>
    public async Task KillPrimaryAsync(CancellationToken ct = default)
    {
        var pid = int.Parse(Field(await CliAsync(_primary, ["INFO", "server"], ct), "process_id"), CultureInfo.InvariantCulture);
        UnixSignals.Send(pid, SigKill);
        var deadline = DateTime.UtcNow + LinkTimeout;
        while (_primary.IsRunning)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"redis-server on port {_primary.Port} (pid {pid}) did not exit after SIGKILL.");
            }

            await Task.Delay(10, ct);
        }
    }

    /// <summary>
    /// Promotes the replica (<c>REPLICAOF NO ONE</c>), as Sentinel would after the primary failed: it becomes
    /// <see cref="PrimaryConnectionString"/>, and the old primary (stopped or not) the replica slot until
    /// <see cref="RestoreAsync"/>.
    /// </summary>
    public async Task PromoteReplicaAsync(CancellationToken ct = default)
    {
        Expect("OK", await CliAsync(_replica, ["REPLICAOF", "NO", "ONE"], ct), "REPLICAOF NO ONE");
        (_primary, _replica) = (_replica, _primary);
    }

    /// <summary>
    /// Cuts the replica off: it stays a replica (keeping what it has) but follows a port nothing listens on, so no
    /// later write of the primary reaches it, deterministically (a frozen replica would still find the writes in its
    /// socket buffer when it thaws).
    /// </summary>
    public async Task DetachReplicaAsync(CancellationToken ct = default) =>
        Expect("OK", await CliAsync(_replica, ["REPLICAOF", "127.0.0.1", FreePort.Next().ToString(CultureInfo.InvariantCulture)], ct), "REPLICAOF <closed port>");

    /// <summary>Freezes the replica (SIGSTOP): its link stays open but it acknowledges nothing, so WAIT runs out.</summary>
    public void PauseReplica() => _replica.Pause();

    /// <summary>Thaws a replica frozen by <see cref="PauseReplica"/> (SIGCONT).</summary>
    public void ResumeReplica() => _replica.Resume();

    /// <summary>
    /// Thaws a frozen replica and waits (up to 10 s) until it has acknowledged everything the primary wrote: a thawed
    /// replica on a loaded machine may need longer than a short WAIT to catch up, which is not what a test asks about.
    /// </summary>
    public async Task ResumeReplicaAndCatchUpAsync(CancellationToken ct = default)
    {
        _replica.Resume();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var info = await CliAsync(_primary, ["INFO", "replication"], ct);
            var primaryOffset = Field(info, "master_repl_offset:");
            var replica = info.Split('\n').FirstOrDefault(l => l.StartsWith("slave0:", StringComparison.Ordinal)) ?? string.Empty;
            var acknowledged = replica.Split(',').FirstOrDefault(p => p.StartsWith("offset=", StringComparison.Ordinal))?["offset=".Length..];
            if (primaryOffset is not null && acknowledged is not null && primaryOffset.Trim() == acknowledged.Trim())
                return;
            await Task.Delay(20, ct);
        }

        static string? Field(string info, string name) =>
            info.Split('\n').FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?[name.Length..];
    }

    /// <summary>
    /// Makes the pair healthy again after whatever a test did: both nodes running and thawed, the replica following the
    /// primary with its link up, and no data. Cheap when nothing changed.
    /// </summary>
    public async Task RestoreAsync(CancellationToken ct = default)
    {
        _replica.Resume();
        _primary.Resume();
        if (!_primary.IsRunning)
        {
            await _primary.StartAgainAsync(ct);
        }

        if (!_replica.IsRunning)
        {
            await _replica.StartAgainAsync(ct);
        }

        var role = Field(await CliAsync(_primary, ["INFO", "replication"], ct), "role");
        if (role != "master")
        {
            Expect("OK", await CliAsync(_primary, ["REPLICAOF", "NO", "ONE"], ct), "REPLICAOF NO ONE");
        }

        Expect("OK", await CliAsync(_primary, ["FLUSHALL"], ct), "FLUSHALL");
        await FollowPrimaryAsync(ct);
    }

    /// <summary>
    /// Brings the node killed by <see cref="KillPrimaryAsync"/> back after <see cref="PromoteReplicaAsync"/> as a replica
    /// of the promoted primary, keeping the primary's data (unlike <see cref="RestoreAsync"/>), as Sentinel does with a
    /// primary that returns: it starts empty with <c>--replicaof</c> on its command line, so it never answers as a
    /// primary, and this returns once its link is up and the primary counts it online (under traffic the offsets may
    /// never be equal at one instant, so they are not compared).
    /// </summary>
    /// <exception cref="InvalidOperationException">The replica slot's node is running: nothing was killed.</exception>
    public async Task RejoinAsReplicaAsync(CancellationToken ct = default)
    {
        if (_replica.IsRunning)
        {
            throw new InvalidOperationException($"redis-server on port {_replica.Port} is running: RejoinAsReplicaAsync brings back a node after KillPrimaryAsync and PromoteReplicaAsync.");
        }

        await _replica.StartAgainAsync(["--replicaof", _primary.Host, _primary.Port.ToString(CultureInfo.InvariantCulture)], ct);
        await WaitForLinkAsync(caughtUp: false, ct);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _replica.DisposeAsync();
        await _primary.DisposeAsync();
    }

    /// <inheritdoc />
    public override string ToString() => $"Redis primary {PrimaryConnectionString}, replica {ReplicaConnectionString}";

    private async Task FollowPrimaryAsync(CancellationToken ct)
    {
        var info = await CliAsync(_replica, ["INFO", "replication"], ct);
        var following = Field(info, "role") == "slave"
                        && Field(info, "master_port") == _primary.Port.ToString(CultureInfo.InvariantCulture);
        if (!following)
        {
            Expect("OK", await CliAsync(_replica, ["REPLICAOF", _primary.Host, _primary.Port.ToString(CultureInfo.InvariantCulture)], ct), "REPLICAOF");
        }

        await WaitForLinkAsync(caughtUp: true, ct);
    }

    private async Task WaitForLinkAsync(bool caughtUp, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + LinkTimeout;
        while (true)
        {
            // Up: the primary counts the replica as online; caught up: with the primary's own offset.
            var info = await CliAsync(_replica, ["INFO", "replication"], ct);
            var primaryInfo = await CliAsync(_primary, ["INFO", "replication"], ct);
            if (Field(info, "master_link_status") == "up"
                && Field(primaryInfo, "connected_slaves") == "1"
                && Field(primaryInfo, "slave0").Contains("state=online", StringComparison.Ordinal)
                && (!caughtUp || Field(info, "slave_repl_offset") == Field(primaryInfo, "master_repl_offset")))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"The replica on port {_replica.Port} did not follow the primary on port {_primary.Port} within {LinkTimeout.TotalSeconds} s." +
                    $"{Environment.NewLine}Replica: {info}{Environment.NewLine}Primary: {primaryInfo}");
            }

            await Task.Delay(20, ct);
        }
    }

    private static async Task<string> CliAsync(LocalRedis node, IReadOnlyList<string> args, CancellationToken ct)
    {
        var result = await node.CliAsync(args, ct);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"redis-cli {string.Join(' ', args)} against port {node.Port} exited with code {result.ExitCode}: {result.Stderr.Trim()} {result.Stdout.Trim()}".TrimEnd());
        }

        return result.Stdout.Trim();
    }

    private static void Expect(string expected, string actual, string command)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"{command} answered '{actual}', expected '{expected}'.");
        }
    }

    private static string Field(string info, string name)
    {
        foreach (var line in info.Split('\n'))
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return trimmed[(name.Length + 1)..];
            }
        }

        return string.Empty;
    }
}
