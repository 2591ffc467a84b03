namespace Dedup.Diagnostics;

/// <summary>The values of <see cref="DedupTelemetry.OutcomeTag"/> on <see cref="DedupTelemetry.Messages"/>.</summary>
public static class DedupOutcomes
{
    /// <summary>The first delivery: the work ran and its record was stored.</summary>
    public const string First = "first";

    /// <summary>A duplicate of a completed message: skipped (or replayed).</summary>
    public const string Duplicate = "duplicate";

    /// <summary>A duplicate request answered with the stored reply (counted besides duplicate / in_flight_waited).</summary>
    public const string Replayed = "replayed";

    /// <summary>A terminal fault was recorded (with RecordFaults), so duplicates get it back.</summary>
    public const string FaultRecorded = "fault_recorded";

    /// <summary>A duplicate that waited for the copy in flight, then was skipped.</summary>
    public const string InFlightWaited = "in_flight_waited";

    /// <summary>A duplicate whose wait for the copy in flight ran out: redelivered.</summary>
    public const string InFlightTimeout = "in_flight_timeout";

    /// <summary>A record exists with another payload fingerprint.</summary>
    public const string Conflict = "conflict";

    /// <summary>A claim was taken over after its owner's lease expired (a crash or a pause).</summary>
    public const string TakenOver = "taken_over";

    /// <summary>A takeover whose check found the previous owner's work applied: completed without running it.</summary>
    public const string Recovered = "recovered";

    /// <summary>A takeover whose check failed: nothing ran, the claim was abandoned, the message goes back to the broker.</summary>
    public const string TakeoverCheckFailed = "takeover_check_failed";

    /// <summary>The lease was lost while the work ran; the result was not recorded.</summary>
    public const string LeaseLost = "lease_lost";

    /// <summary>The store failed; the message was redelivered (fail closed).</summary>
    public const string StoreError = "store_error";

    /// <summary>The store failed and the message ran without dedup (fail open).</summary>
    public const string FailOpen = "fail_open";

    /// <summary>The work failed; the claim was released.</summary>
    public const string Released = "released";

    /// <summary>
    /// Fewer replicas than Dedup:Durability:Replicas confirmed a claim, completion or the record a duplicate relies on
    /// (counted besides the message's other outcomes, under either policy).
    /// </summary>
    public const string NotReplicated = "not_replicated";

    /// <summary>The message had no MessageId and ran without dedup.</summary>
    public const string NoKey = "no_key";
}
