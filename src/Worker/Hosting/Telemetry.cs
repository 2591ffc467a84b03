using Dedup.Diagnostics;
using Dedup.Worker.Settings;
using MassTransit.Logging;
using MassTransit.Monitoring;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Dedup.Worker.Hosting;

/// <summary>
/// OpenTelemetry for Dedup's and MassTransit's meters and activity sources. Metrics are collected when the health port
/// is set (for <c>GET /metrics</c>) or an exporter is chosen; traces only with an exporter; with neither, nothing is set up.
/// </summary>
internal static class Telemetry
{
    public static void AddWorkerTelemetry(this IServiceCollection services, TelemetrySettings settings, HealthSettings health)
    {
        var scraped = health.Port > 0;
        if (settings.Exporter == TelemetryExporter.None && !scraped)
            return;

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(settings.ServiceName))
            .WithMetrics(metrics =>
            {
                // MassTransit's meter counts messages received and consumed: the worker's throughput.
                metrics.AddMeter(DedupTelemetry.MeterName, InstrumentationOptions.MeterName);
                if (scraped)
                    metrics.AddPrometheusExporter();
                if (settings.Exporter == TelemetryExporter.Otlp)
                    metrics.AddOtlpExporter(o => o.Endpoint = settings.OtlpEndpoint);
                else if (settings.Exporter == TelemetryExporter.Console)
                    metrics.AddConsoleExporter();
            });
        if (settings.Exporter == TelemetryExporter.None)
            return;

        telemetry.WithTracing(tracing =>
        {
            tracing.AddSource(DedupTelemetry.ActivitySourceName, DiagnosticHeaders.DefaultListenerName);
            if (settings.Exporter == TelemetryExporter.Otlp)
                tracing.AddOtlpExporter(o => o.Endpoint = settings.OtlpEndpoint);
            else
                tracing.AddConsoleExporter();
        });
    }
}
