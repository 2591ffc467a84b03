using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Dedup.Diagnostics;

namespace Dedup.Worker.Demo;

/// <summary>Reads the library's <c>dedup.messages</c> counter (by <c>dedup.outcome</c>) from one meter factory's <c>Dedup</c> meter.</summary>
internal sealed class OutcomeCounter : IDisposable
{
    readonly MeterListener _listener = new();
    readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public OutcomeCounter(IMeterFactory scope)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DedupTelemetry.MeterName && ReferenceEquals(instrument.Meter.Scope, scope) && instrument.Name == DedupTelemetry.Messages)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == DedupTelemetry.OutcomeTag && tag.Value is string outcome)
                    _counts.AddOrUpdate(outcome, value, (_, n) => n + value);
            }
        });
        _listener.Start();
    }

    public long this[string outcome] => _counts.GetValueOrDefault(outcome);

    public IReadOnlyDictionary<string, long> All => _counts;

    public void Dispose() => _listener.Dispose();
}
