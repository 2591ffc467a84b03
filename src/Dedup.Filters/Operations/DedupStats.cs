namespace Dedup.Operations;

/// <summary>
/// What <see cref="DedupRecords.StatsAsync"/> found: the records by state, their size, and the memory the retention
/// window will hold at the current rate. Sampled with <c>SCAN</c> on every master; scaled up by each master's share of
/// keys scanned when a scan stopped at the sample size (<see cref="Exact"/> says whether any did).
/// </summary>
public sealed record DedupStats
{
    /// <summary>True when the store is a Redis Cluster (then <see cref="Servers"/> has every master).</summary>
    public bool IsCluster { get; init; }

    /// <summary>Each server's sample: the one server, every master of a cluster, or the in-memory store.</summary>
    public required IReadOnlyList<DedupServerStats> Servers { get; init; }

    /// <summary>The records by state: counted where a scan finished, estimated (the sample scaled up) where it stopped.</summary>
    public required DedupStateCounts Records { get; init; }

    /// <summary>True when every server answered and was scanned to the end: <see cref="Records"/> are counts, not estimates.</summary>
    public bool Exact => Servers.All(s => s.Error is null && s.ScanFinished);

    /// <summary>The mean <c>MEMORY USAGE</c> of the sampled records (key, fields, overhead); null without a sample or on the in-memory store.</summary>
    public double? BytesPerRecord { get; init; }

    /// <summary>The window the rate is measured over (at most the retention).</summary>
    public TimeSpan RateWindow { get; init; }

    /// <summary>
    /// New records per second: the records whose epoch (the store's clock at their claim, in microseconds) lies within
    /// <see cref="RateWindow"/>, divided by it. A process that started less than a window ago is under-counted.
    /// </summary>
    public double RecordsPerSecond { get; init; }

    /// <summary>The retention window (<see cref="DedupOptions.Retention"/>): how long a completed record is kept.</summary>
    public TimeSpan Retention { get; init; }

    /// <summary>The records the store will hold at the current rate: <see cref="RecordsPerSecond"/> times <see cref="Retention"/>.</summary>
    public double ProjectedRecords => RecordsPerSecond * Retention.TotalSeconds;

    /// <summary>The memory those records take: <see cref="ProjectedRecords"/> times <see cref="BytesPerRecord"/>.</summary>
    public double? ProjectedBytes => ProjectedRecords * BytesPerRecord;
}

/// <summary>One server's sample.</summary>
/// <param name="Server">The server ("host:port"; "in-memory" for the in-memory store).</param>
/// <param name="Keys">The keys in its database (<c>DBSIZE</c>), dedup records and any others.</param>
/// <param name="KeysScanned">The keys <c>SCAN</c> returned before it finished or reached the sample size.</param>
/// <param name="ScanFinished">True when the scan went through every key: the counts are exact.</param>
/// <param name="Sampled">The dedup records (keys <c>&lt;prefix&gt;{...}</c>) among the scanned keys, by state.</param>
/// <param name="MemoryBytes">The sum of <c>MEMORY USAGE</c> over the sampled records; null on the in-memory store.</param>
/// <param name="ClaimedInWindow">Sampled records (tombstones aside) claimed within the rate window.</param>
/// <param name="Error">Why the server was not sampled (it did not answer); null when it was.</param>
public sealed record DedupServerStats(
    string Server,
    long Keys,
    long KeysScanned,
    bool ScanFinished,
    DedupStateCounts Sampled,
    long? MemoryBytes,
    long ClaimedInWindow,
    string? Error = null)
{
    /// <summary>How many keys each scanned key stands for: 1 when the scan finished, else <see cref="Keys"/> over <see cref="KeysScanned"/>.</summary>
    public double Scale => ScanFinished || KeysScanned == 0 ? 1 : (double)Keys / KeysScanned;
}

/// <summary>Records by state.</summary>
/// <param name="InProgress">In progress with a live lease: the work runs.</param>
/// <param name="LeaseExpired">In progress with a lease that ran out: the owner crashed or paused; the next copy takes it over.</param>
/// <param name="Completed">Completed: duplicates are skipped.</param>
/// <param name="Released">Released after a failure.</param>
/// <param name="Forgotten">Forgotten by an operator (tombstones holding the epoch).</param>
public sealed record DedupStateCounts(long InProgress, long LeaseExpired, long Completed, long Released, long Forgotten)
{
    /// <summary>No records.</summary>
    public static readonly DedupStateCounts None = new(0, 0, 0, 0, 0);

    /// <summary>All records.</summary>
    public long Total => InProgress + LeaseExpired + Completed + Released + Forgotten;

    /// <summary>The sum of two counts.</summary>
    public DedupStateCounts Plus(DedupStateCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new(InProgress + other.InProgress, LeaseExpired + other.LeaseExpired, Completed + other.Completed,
            Released + other.Released, Forgotten + other.Forgotten);
    }

    /// <summary>Each count times <paramref name="factor"/>, rounded.</summary>
    public DedupStateCounts Times(double factor) =>
        new(Round(InProgress, factor), Round(LeaseExpired, factor), Round(Completed, factor), Round(Released, factor), Round(Forgotten, factor));

    static long Round(long count, double factor) => (long)Math.Round(count * factor);
}
