using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// OpenTelemetry is set up, or not, from <c>Telemetry:Exporter</c> while services are registered; the endpoint and the
/// service name come from the validated <see cref="TelemetrySettings"/> once the provider exists.
/// </summary>
public sealed class TelemetryTests
{
    [Fact]
    public void Otlp_TakesTheEndpointAndServiceNameFromTheSettings()
    {
        using var provider = Services(new()
        {
            ["Telemetry:Exporter"] = "otlp",
            ["Telemetry:OtlpEndpoint"] = "http://collector:4317",
            ["Telemetry:ServiceName"] = "payments-worker",
        });

        var resource = provider.GetRequiredService<MeterProvider>().GetResource();

        Assert.Equal(new Uri("http://collector:4317"), provider.GetRequiredService<IOptionsMonitor<OtlpExporterOptions>>().CurrentValue.Endpoint);
        Assert.Contains(resource.Attributes, a => a.Key == "service.name" && Equals(a.Value, "payments-worker"));
    }

    [Fact]
    public void None_SetsNothingUp()
    {
        using var provider = Services(new() { ["Telemetry:Exporter"] = "None" });

        Assert.Null(provider.GetService<MeterProvider>());
    }

    static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddWorkerConfiguration(configuration);
        services.AddWorkerTelemetry(configuration);
        return services.BuildServiceProvider();
    }
}
