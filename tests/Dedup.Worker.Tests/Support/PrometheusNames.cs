using Dedup.Diagnostics;

namespace Dedup.Worker.Tests.Support;

/// <summary>
/// The names OpenTelemetry's Prometheus exporter gives an instrument (checked against the worker's real
/// <c>GET /metrics</c> in <c>MetricsEndpointTests</c>): dots become underscores, a unit is spelled out and appended
/// (an annotation such as <c>{message}</c> is not), a counter gets <c>_total</c>, a histogram's series
/// <c>_bucket</c>, <c>_sum</c> and <c>_count</c>.
/// </summary>
internal static class PrometheusNames
{
    /// <summary>MassTransit's counter of messages received (meter <c>MassTransit</c>).</summary>
    public const string MassTransitReceive = "messaging.masstransit.receive";

    /// <summary>MassTransit's counter of messages consumed, by consumer (meter <c>MassTransit</c>).</summary>
    public const string MassTransitConsume = "messaging.masstransit.consume";

    /// <summary>The unit of MassTransit's counters ("each"): spelled as is.</summary>
    public const string MassTransitCounterUnit = "ea";

    /// <param name="instrument">The instrument's name.</param>
    /// <param name="unit">Its unit; null for an annotation (<c>{message}</c>), which the exporter leaves out.</param>
    public static string Counter(string instrument, string? unit = null) => Escape(instrument) + (unit is null ? "" : "_" + Unit(unit)) + "_total";

    public static string Histogram(string instrument, string unit) => Escape(instrument) + "_" + Unit(unit);

    /// <summary>Every series name the library's meter and MassTransit's throughput counters produce.</summary>
    public static IReadOnlySet<string> Emitted { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        Counter(DedupTelemetry.Messages),
        Counter(DedupTelemetry.StoreErrors),
        Histogram(DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit) + "_bucket",
        Histogram(DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit) + "_sum",
        Histogram(DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit) + "_count",
        Counter(MassTransitReceive, MassTransitCounterUnit),
        Counter(MassTransitConsume, MassTransitCounterUnit),
    };

    /// <summary>Label names as the exporter writes tag names.</summary>
    public static string Label(string tag) => Escape(tag);

    static string Escape(string name) => name.Replace('.', '_');

    static string Unit(string unit) => unit switch
    {
        "ms" => "milliseconds",
        "s" => "seconds",
        MassTransitCounterUnit => MassTransitCounterUnit,
        _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "Add the exporter's spelling of this unit."),
    };
}
