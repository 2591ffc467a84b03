using Dedup.Diagnostics;
using Dedup.Worker.Settings;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Dedup.Worker.Hosting;

/// <summary>OpenTelemetry for Dedup's and MassTransit's meters and activity sources; nothing is set up while the exporter is None.</summary>
internal static class Telemetry
{
    /// <summary>MassTransit's meter and activity source name.</summary>
    const string MassTransitSource = "MassTransit";

    public static void AddWorkerTelemetry(this IServiceCollection services, TelemetrySettings settings)
    {
        if (settings.Exporter == TelemetryExporter.None)
            return;

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(settings.ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(DedupMetrics.Name, MassTransitSource);
                if (settings.Exporter == TelemetryExporter.Otlp)
                    metrics.AddOtlpExporter(o => o.Endpoint = settings.OtlpEndpoint);
                else
                    metrics.AddConsoleExporter();
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource(DedupMetrics.Name, MassTransitSource);
                if (settings.Exporter == TelemetryExporter.Otlp)
                    tracing.AddOtlpExporter(o => o.Endpoint = settings.OtlpEndpoint);
                else
                    tracing.AddConsoleExporter();
            });
    }
}
