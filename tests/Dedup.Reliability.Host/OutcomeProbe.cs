using System.Diagnostics.Metrics;
using Dedup.Diagnostics;
using Microsoft.Extensions.Hosting;

namespace Dedup.Reliability.Host;

/// <summary>
/// Test-only: listens to the library's <c>dedup.messages</c> counter (meter <c>Dedup</c>) and prints each measurement
/// as <c>fault-probe: dedup.messages outcome=&lt;outcome&gt; +&lt;n&gt;</c>, so a test reading the process output sees the metric.
/// </summary>
internal sealed class OutcomeProbe : IHostedService, IDisposable
{
    readonly MeterListener _listener = new();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DedupTelemetry.MeterName && instrument.Name is DedupTelemetry.Messages or DedupTelemetry.StoreErrors)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var text = new System.Text.StringBuilder(instrument.Name);
            foreach (var tag in tags)
            {
                if (tag.Key == DedupTelemetry.OutcomeTag)
                    text.Append(" outcome=").Append(tag.Value);
                else if (tag.Key == DedupTelemetry.OperationTag)
                    text.Append(" operation=").Append(tag.Value);
            }

            FaultInjection.Mark($"{text} +{value}", "fault-probe");
        });
        _listener.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _listener.Dispose();
}
