using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Dedup.Diagnostics;

/// <summary>
/// Dedup's one <see cref="Meter"/> and its instruments; their names are <see cref="DedupTelemetry"/>'s.
/// </summary>
internal sealed class DedupMetrics : IDisposable
{
    /// <summary>
    /// A store call is one Redis round trip (sub-millisecond on a local network) or, with Dedup:Durability, a
    /// <c>WAIT</c> of up to its timeout: the default buckets (0, 5, 10, 25 ms, ...) would put every call in the first.
    /// </summary>
    static readonly InstrumentAdvice<double> StoreDurationBuckets = new()
    {
        HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
    };

    readonly Meter _meter;
    readonly Counter<long> _outcomes;
    readonly Histogram<double> _storeDuration;
    readonly Counter<long> _storeErrors;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> (or a private one).</summary>
    public DedupMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(DedupTelemetry.MeterName) ?? new Meter(DedupTelemetry.MeterName);
        _outcomes = _meter.CreateCounter<long>(DedupTelemetry.Messages, "{message}", "Messages and executions by dedup outcome.");
        _storeDuration = _meter.CreateHistogram(
            DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit, "Duration of dedup store operations.", tags: null, StoreDurationBuckets);
        _storeErrors = _meter.CreateCounter<long>(DedupTelemetry.StoreErrors, "{error}", "Dedup store operations that failed (store unreachable, timeout, OOM).");
    }

    /// <summary>The meter the instruments live on (one per container unless an <see cref="IMeterFactory"/> shares it).</summary>
    public Meter Meter => _meter;

    /// <summary>The activity source for dedup spans.</summary>
    public static ActivitySource ActivitySource { get; } = new(DedupTelemetry.ActivitySourceName);

    public void Outcome(string outcome) => _outcomes.Add(1, new KeyValuePair<string, object?>(DedupTelemetry.OutcomeTag, outcome));

    public void StoreDuration(string operation, TimeSpan elapsed) =>
        _storeDuration.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>(DedupTelemetry.OperationTag, operation));

    public void StoreError(string operation) => _storeErrors.Add(1, new KeyValuePair<string, object?>(DedupTelemetry.OperationTag, operation));

    public void Dispose() => _meter.Dispose();
}
