using System.Diagnostics.Metrics;
using Dedup.Diagnostics;

namespace Dedup.Filters.Tests;

/// <summary>Collects the values of <c>dedup.outcome</c> recorded on the Dedup meter.</summary>
public static class MetricsListener
{
    public static MeterListener Outcomes(List<string> outcomes)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == DedupMetrics.Name && instrument.Name == "dedup.messages")
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == DedupMetrics.OutcomeTag)
                {
                    lock (outcomes)
                        outcomes.Add((string)tag.Value!);
                }
            }
        });
        listener.Start();
        return listener;
    }
}
