using System.Diagnostics.Metrics;
using Dedup.Diagnostics;

namespace Dedup.Filters.Tests;

/// <summary>Collects the values of <c>dedup.outcome</c> recorded on the Dedup meter.</summary>
internal static class MetricsListener
{
    /// <summary>Collects outcomes recorded by <paramref name="metrics"/> only (tests run in parallel, each with its own meter).</summary>
    public static MeterListener Outcomes(List<string> outcomes, DedupMetrics metrics)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, metrics.Meter) && instrument.Name == DedupTelemetry.Messages)
                    l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == DedupTelemetry.OutcomeTag)
                {
                    lock (outcomes)
                        outcomes.Add((string)tag.Value!);
                }
            }
        });
        listener.Start();
        return listener;
    }

    /// <summary>Waits (up to 30 s) until <paramref name="outcome"/> has been recorded.</summary>
    public static async Task WaitForAsync(List<string> outcomes, string outcome)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            lock (outcomes)
            {
                if (outcomes.Contains(outcome))
                    return;
            }

            await Task.Delay(20, timeout.Token);
        }
    }
}
