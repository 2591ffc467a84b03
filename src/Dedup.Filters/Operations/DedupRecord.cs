namespace Dedup.Operations;

/// <summary>A dedup record as <see cref="DedupRecords.InspectAsync"/> read it, with the store's clock at that instant.</summary>
/// <param name="Key">The store key.</param>
/// <param name="State">The record's state.</param>
public sealed record DedupRecord(string Key, DedupRecordState State)
{
    /// <summary>The owner token of the claim (in progress, completed); null otherwise.</summary>
    public string? Owner { get; init; }

    /// <summary>The fencing epoch of the last claim (0 when absent). Epochs never repeat for a key and only grow.</summary>
    public long Epoch { get; init; }

    /// <summary>
    /// In progress: the time until the lease deadline, negative once it ran out (then the next copy takes the claim
    /// over). Null in the other states.
    /// </summary>
    public TimeSpan? LeaseRemaining { get; init; }

    /// <summary>True when the record is in progress and its lease ran out: its owner is gone or paused.</summary>
    public bool LeaseExpired => LeaseRemaining <= TimeSpan.Zero;

    /// <summary>The payload fingerprint stored with the claim (12 bytes of SHA-256, base64url); null when none was.</summary>
    public string? Fingerprint { get; init; }

    /// <summary>
    /// In progress: the epoch of the owner this claim followed, after a takeover, a release or a forget (its work may
    /// have happened, so the takeover check was asked); 0 otherwise.
    /// </summary>
    public long PreviousEpoch { get; init; }

    /// <summary>True when a duplicate waits for this claim (the waiter flag <c>w</c>): its completion or release is published.</summary>
    public bool HasWaiters { get; init; }

    /// <summary>The stored result record (completed): the replies to replay, or the recorded fault.</summary>
    public ReadOnlyMemory<byte> Result { get; init; }

    /// <summary>What <see cref="Result"/> holds, when the dedup filter wrote it; null when it is empty or not a filter's result record.</summary>
    public DedupResultSummary? ResultSummary { get; init; }

    /// <summary>How long the key lives (its TTL); null when absent.</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>The store's clock when the record was read (Redis: <c>TIME</c> in the same script).</summary>
    public DateTimeOffset ReadAt { get; init; }

    /// <summary>When the epoch's owner claimed the key: epochs are the store's clock in microseconds at the claim.</summary>
    public DateTimeOffset? ClaimedAt { get; init; }

    /// <summary>
    /// Completed: when, derived from the TTL (a completion sets it to the retention window, and the record keeps no
    /// completion time of its own): exact when the writer's <see cref="DedupOptions.Retention"/> is this process's.
    /// </summary>
    public DateTimeOffset? CompletedAt { get; init; }
}

/// <summary>What a result record written by the dedup filter holds.</summary>
/// <param name="ReplyTypes">The types of the stored replies, in order.</param>
/// <param name="Fault">A recorded terminal fault (<see cref="DedupOptions.RecordFaults"/>): its first exception, "type: message".</param>
/// <param name="ReplyTooLarge">The replies were larger than <see cref="DedupOptions.MaxReplyBytes"/>; not stored, not replayed.</param>
/// <param name="Recovered">The work was not run by this record's owner: a takeover check found a previous owner's work applied.</param>
public sealed record DedupResultSummary(IReadOnlyList<string> ReplyTypes, string? Fault, bool ReplyTooLarge, bool Recovered);
