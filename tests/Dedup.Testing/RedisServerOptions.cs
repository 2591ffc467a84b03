namespace Dedup.Testing;

/// <summary>How a <see cref="RedisServer"/> is configured.</summary>
public sealed class RedisServerOptions
{
    /// <summary>
    /// Turns on the append-only file (<c>--appendonly yes</c>, fsync every second), so data written before
    /// <see cref="RedisServer.StopAsync"/> is there again after <see cref="RedisServer.RestartAsync"/>.
    /// Default false: no persistence at all.
    /// </summary>
    public bool AppendOnly { get; init; }

    /// <summary>
    /// When set, <c>--maxmemory</c> with <c>--maxmemory-policy noeviction</c>: writes fail with OOM instead of
    /// evicting keys. Default null: no limit.
    /// </summary>
    public long? MaxMemoryBytes { get; init; }

    /// <summary>More <c>redis-server</c> arguments, appended last (so they win), e.g. <c>["--appendfsync", "always"]</c>.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>The redis-server arguments these options stand for (port, bind and dir excluded).</summary>
    internal IEnumerable<string> ServerArguments()
    {
        // No RDB snapshots in either mode: the AOF is the persistence under test, and background saves would only
        // add forks and noise to tests and benchmarks.
        yield return "--save";
        yield return string.Empty;
        yield return "--appendonly";
        yield return AppendOnly ? "yes" : "no";

        if (MaxMemoryBytes is { } maxMemory)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMemory, nameof(MaxMemoryBytes));
            yield return "--maxmemory";
            yield return maxMemory.ToString(System.Globalization.CultureInfo.InvariantCulture);
            yield return "--maxmemory-policy";
            yield return "noeviction";
        }

        foreach (var argument in ExtraArgs)
        {
            yield return argument;
        }
    }
}
