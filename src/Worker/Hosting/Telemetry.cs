using System.Globalization;
using Dedup.Diagnostics;
using Dedup.Worker.Settings;
using MassTransit.Logging;
using MassTransit.Monitoring;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
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
    public static void AddWorkerTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        // Whether OpenTelemetry is set up at all is decided while services are registered, before options exist: the
        // exporter and the health port are read from configuration here. The settings validate the same values at
        // start, so a wrong one stops the worker there; the endpoint and service name come from the validated settings.
        var exporterSetting = configuration.GetSection(TelemetrySettings.Section)[nameof(TelemetrySettings.Exporter)];
        var exporter = Enum.TryParse<TelemetryExporter>(exporterSetting, ignoreCase: true, out var parsed) ? parsed : TelemetryExporter.None;
        var portSetting = configuration.GetSection(WorkerSettings.Section).GetSection(nameof(WorkerSettings.Health))[nameof(HealthSettings.Port)];
        var scraped = int.TryParse(portSetting, NumberStyles.Integer, CultureInfo.InvariantCulture, out var port) && port > 0;
        if (exporter == TelemetryExporter.None && !scraped)
            return;

        services.AddOptions<OtlpExporterOptions>().Configure<TelemetrySettings>((o, settings) => o.Endpoint = settings.OtlpEndpoint);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddDetector(sp => new ServiceNameDetector(sp.GetRequiredService<TelemetrySettings>().ServiceName)))
            .WithMetrics(metrics =>
            {
                // MassTransit's meter counts messages received and consumed: the worker's throughput.
                metrics.AddMeter(DedupTelemetry.MeterName, InstrumentationOptions.MeterName);
                if (scraped)
                    metrics.AddPrometheusExporter();
                if (exporter == TelemetryExporter.Otlp)
                    metrics.AddOtlpExporter();
                else if (exporter == TelemetryExporter.Console)
                    metrics.AddConsoleExporter();
            });
        if (exporter == TelemetryExporter.None)
            return;

        telemetry.WithTracing(tracing =>
        {
            tracing.AddSource(DedupTelemetry.ActivitySourceName, DiagnosticHeaders.DefaultListenerName);
            if (exporter == TelemetryExporter.Otlp)
                tracing.AddOtlpExporter();
            else
                tracing.AddConsoleExporter();
        });
    }

    /// <summary>The <c>service.name</c> resource (and an instance id), from <see cref="TelemetrySettings.ServiceName"/>.</summary>
    sealed class ServiceNameDetector(string serviceName) : IResourceDetector
    {
        public Resource Detect() => ResourceBuilder.CreateEmpty().AddService(serviceName).Build();
    }
}
