using Dedup.Diagnostics;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Dedup.Worker.Hosting;

/// <summary>OpenTelemetry for Dedup's and MassTransit's meters and activity sources; nothing is set up while the exporter is None.</summary>
internal static class Telemetry
{
    /// <summary>MassTransit's meter and activity source name.</summary>
    const string MassTransitSource = "MassTransit";

    public static void AddWorkerTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        // Whether OpenTelemetry is set up at all is decided while services are registered, before options exist: the
        // exporter is read from configuration here. TelemetrySettings validates the same value at start, so an unknown
        // one stops the worker there; the endpoint and service name come from the validated settings.
        var exporterSetting = configuration.GetSection(TelemetrySettings.Section)[nameof(TelemetrySettings.Exporter)];
        if (!Enum.TryParse<TelemetryExporter>(exporterSetting, ignoreCase: true, out var exporter) || exporter == TelemetryExporter.None)
            return;

        services.AddOptions<OtlpExporterOptions>().Configure<TelemetrySettings>((o, settings) => o.Endpoint = settings.OtlpEndpoint);
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddDetector(sp => new ServiceNameDetector(sp.GetRequiredService<TelemetrySettings>().ServiceName)))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(DedupMetrics.Name, MassTransitSource);
                if (exporter == TelemetryExporter.Otlp)
                    metrics.AddOtlpExporter();
                else
                    metrics.AddConsoleExporter();
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource(DedupMetrics.Name, MassTransitSource);
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
