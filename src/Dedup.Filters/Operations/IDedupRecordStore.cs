namespace Dedup.Operations;

/// <summary>
/// The operator's transitions of a store, besides the claim protocol (<see cref="Protocol.IDedupStore"/>): read a record,
/// forget it, sample them all. Implemented by the Redis and in-memory stores; both pass the same contract suite.
/// </summary>
internal interface IDedupRecordStore
{
    /// <summary>Reads the record of <paramref name="key"/> (state <see cref="DedupRecordState.Absent"/> when there is none).</summary>
    ValueTask<DedupRecord> InspectAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the record a tombstone that keeps its epoch for <paramref name="retention"/>: the next claim gets a higher
    /// epoch and names the forgotten one (as after a release). Refuses a live lease unless <paramref name="force"/>.
    /// </summary>
    ValueTask<DedupForgetResult> ForgetAsync(string key, bool force, TimeSpan retention, CancellationToken cancellationToken);

    /// <summary>Samples up to <paramref name="keysPerServer"/> keys on every server, counting this store's records by state.</summary>
    Task<RecordSample> SampleAsync(int keysPerServer, TimeSpan window, CancellationToken cancellationToken);
}

/// <summary>A store's sample: one entry per server.</summary>
internal sealed record RecordSample(bool IsCluster, IReadOnlyList<DedupServerStats> Servers);
