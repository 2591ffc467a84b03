namespace Dedup.Diagnostics;

/// <summary>
/// The names Dedup's telemetry is published under, for configuring an exporter, a listener or a dashboard without
/// string literals: one <see cref="System.Diagnostics.Metrics.Meter"/> and one
/// <see cref="System.Diagnostics.ActivitySource"/>, both named <see cref="MeterName"/>. The outcome values of
/// <see cref="OutcomeTag"/> are in <see cref="DedupOutcomes"/>.
/// </summary>
/// <remarks>
/// A Prometheus exporter writes dots as underscores and appends the unit and, on counters, <c>_total</c>:
/// <c>dedup_messages_total{dedup_outcome="first"}</c>, <c>dedup_store_duration_milliseconds_bucket</c>,
/// <c>dedup_store_errors_total</c>.
/// </remarks>
/// <example>
/// <code>
/// services.AddOpenTelemetry()
///     .WithMetrics(m => m.AddMeter(DedupTelemetry.MeterName))
///     .WithTracing(t => t.AddSource(DedupTelemetry.ActivitySourceName));
/// </code>
/// </example>
public static class DedupTelemetry
{
    /// <summary>The meter's name: <c>Dedup</c>.</summary>
    public const string MeterName = "Dedup";

    /// <summary>The activity source's name: <c>Dedup</c>, the same as the meter's.</summary>
    public const string ActivitySourceName = MeterName;

    /// <summary>
    /// Counter (<c>{message}</c>): messages and executions by <see cref="OutcomeTag"/>. A delivery counts once for the
    /// way it was admitted and settled; <see cref="DedupOutcomes.Replayed"/>, <see cref="DedupOutcomes.TakenOver"/> and
    /// <see cref="DedupOutcomes.NotReplicated"/> count besides.
    /// </summary>
    public const string Messages = "dedup.messages";

    /// <summary>Histogram (<see cref="StoreDurationUnit"/>): the duration of each store call, by <see cref="OperationTag"/>.</summary>
    public const string StoreDuration = "dedup.store.duration";

    /// <summary>The unit of <see cref="StoreDuration"/>: milliseconds.</summary>
    public const string StoreDurationUnit = "ms";

    /// <summary>Counter (<c>{error}</c>): store calls that failed (unreachable, timeout, OOM), by <see cref="OperationTag"/>.</summary>
    public const string StoreErrors = "dedup.store.errors";

    /// <summary>
    /// Tag of <see cref="Messages"/>: the outcome, one of <see cref="DedupOutcomes"/>. On <see cref="ConsumeActivity"/>:
    /// the <see cref="Protocol.ClaimOutcome"/> of its claim (<c>Claimed</c>, <c>Duplicate</c>, <c>Busy</c>, ...).
    /// </summary>
    public const string OutcomeTag = "dedup.outcome";

    /// <summary>
    /// Tag of <see cref="StoreDuration"/> and <see cref="StoreErrors"/>: the store operation (<c>claim</c>, <c>renew</c>,
    /// <c>complete</c>, <c>release</c>, ...; <c>wait</c>: the replicas' confirmation with <c>Dedup:Durability</c>).
    /// </summary>
    public const string OperationTag = "dedup.operation";

    /// <summary>Activity: one message through the dedup filter, from its claim to its commit or release.</summary>
    public const string ConsumeActivity = "dedup.consume";

    /// <summary>Activity: one batch through the dedup filter.</summary>
    public const string BatchActivity = "dedup.batch";

    /// <summary>Tag of <see cref="ConsumeActivity"/>: the dedup key.</summary>
    public const string KeyTag = "dedup.key";

    /// <summary>Tag of <see cref="ConsumeActivity"/>: the claim's epoch (its fence).</summary>
    public const string EpochTag = "dedup.epoch";

    /// <summary>Tag of <see cref="BatchActivity"/>: the messages in the batch.</summary>
    public const string BatchSizeTag = "dedup.batch.size";

    /// <summary>Tag of <see cref="BatchActivity"/>: the messages of the batch that were not duplicates.</summary>
    public const string BatchAdmittedTag = "dedup.batch.admitted";
}
