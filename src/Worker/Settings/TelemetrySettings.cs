namespace Dedup.Worker.Settings;

/// <summary>
/// OpenTelemetry export: section <c>Telemetry</c>. Off by default. (Metrics are also served, as Prometheus text, on
/// <c>GET /metrics</c> of the health endpoint whenever <c>Worker:Health:Port</c> is set.)
/// </summary>
public sealed class TelemetrySettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Telemetry";

    /// <summary>Where metrics and traces go. Default <see cref="TelemetryExporter.None"/>.</summary>
    public TelemetryExporter Exporter { get; set; } = TelemetryExporter.None;

    /// <summary>The OTLP endpoint, when <see cref="Exporter"/> is <see cref="TelemetryExporter.Otlp"/>. Default <c>http://localhost:4317</c> (gRPC).</summary>
    public Uri OtlpEndpoint { get; set; } = new("http://localhost:4317");

    /// <summary>The service name reported. Default <c>dedup-worker</c>.</summary>
    public string ServiceName { get; set; } = "dedup-worker";

    internal IEnumerable<string> Validate()
    {
        if (!Enum.IsDefined(Exporter))
            yield return $"Telemetry:Exporter must be None, Console or Otlp; it is {Exporter}.";
        if (Exporter == TelemetryExporter.Otlp && (!OtlpEndpoint.IsAbsoluteUri || OtlpEndpoint.Scheme is not ("http" or "https")))
            yield return $"Telemetry:OtlpEndpoint must be an absolute http(s) URI; it is '{OtlpEndpoint}'.";
        if (string.IsNullOrWhiteSpace(ServiceName))
            yield return "Telemetry:ServiceName must not be empty.";
    }
}

/// <summary>Where OpenTelemetry data goes.</summary>
public enum TelemetryExporter
{
    /// <summary>Nowhere: OpenTelemetry is not set up.</summary>
    None,

    /// <summary>Standard output (for a look while debugging).</summary>
    Console,

    /// <summary>An OTLP collector at <see cref="TelemetrySettings.OtlpEndpoint"/>.</summary>
    Otlp,
}
