using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dedup.Diagnostics;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// deploy/grafana/dashboards/dedup.json queries only series the worker serves on <c>GET /metrics</c>: the names come
/// from <see cref="DedupTelemetry"/> and MassTransit's meter through the exporter's renaming (<see cref="PrometheusNames"/>,
/// itself checked against the real endpoint in <see cref="MetricsEndpointTests"/>).
/// </summary>
public sealed partial class DashboardTests
{
    static readonly string Deploy = Path.Combine(RepositoryRoot(), "deploy");

    [Fact]
    public void Dashboard_EveryMetricItQueries_IsOneTheWorkerServes()
    {
        var queried = Expressions().SelectMany(e => MetricSelector().Matches(e).Select(m => m.Groups["name"].Value)).ToHashSet(StringComparer.Ordinal);

        Assert.Multiple(
            () => Assert.All(queried, name => Assert.Contains(name, PrometheusNames.Emitted)),
            // Each instrument of the library and the worker's throughput has a panel.
            () => Assert.Contains(PrometheusNames.Counter(DedupTelemetry.Messages), queried),
            () => Assert.Contains(PrometheusNames.Counter(DedupTelemetry.StoreErrors), queried),
            () => Assert.Contains(PrometheusNames.Histogram(DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit) + "_bucket", queried),
            () => Assert.Contains(PrometheusNames.Counter(PrometheusNames.MassTransitConsume, PrometheusNames.MassTransitCounterUnit), queried));
    }

    [Fact]
    public void Dashboard_EveryQuery_SelectsAMetric()
    {
        Assert.All(Expressions(), e => Assert.Matches(MetricSelector(), e));
    }

    [Fact]
    public void Dashboard_EveryOutcomeItFiltersOn_IsADedupOutcome()
    {
        var outcomes = typeof(DedupOutcomes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetRawConstantValue()!).ToHashSet();
        var label = PrometheusNames.Label(DedupTelemetry.OutcomeTag);
        var filtered = Expressions()
            .SelectMany(e => Regex.Matches(e, label + @"=~?""(?<values>[^""]*)""").Select(m => m.Groups["values"].Value))
            .SelectMany(values => values.Split('|'))
            .ToList();

        Assert.NotEmpty(filtered);
        Assert.All(filtered, outcome => Assert.Contains(outcome, outcomes));
    }

    [Fact]
    public void Dashboard_Datasource_IsTheProvisionedPrometheus()
    {
        var provisioned = File.ReadAllText(Path.Combine(Deploy, "grafana", "provisioning", "datasources", "prometheus.yml"));
        var uids = Panels().Select(p => p.GetProperty("datasource").GetProperty("uid").GetString()).Distinct().ToList();

        Assert.Equal(["prometheus"], uids);
        Assert.Contains("uid: prometheus", provisioned, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_EveryFileItMounts_Exists()
    {
        var compose = File.ReadAllText(Path.Combine(Deploy, "docker-compose.yml"));
        var mounts = BindMount().Matches(compose).Select(m => m.Groups["source"].Value).ToList();

        Assert.Contains("./prometheus/prometheus.yml", mounts);
        Assert.Contains("./grafana/dashboards", mounts);
        Assert.All(mounts, source => Assert.True(Path.Exists(Path.Combine(Deploy, source)), $"{source} (relative to deploy/) does not exist"));
    }

    static IEnumerable<JsonElement> Panels()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Deploy, "grafana", "dashboards", "dedup.json")));
        return [.. dashboard.RootElement.GetProperty("panels").EnumerateArray().Select(p => p.Clone())];
    }

    static List<string> Expressions() =>
        [.. Panels().SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!)];

    static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Dedup.sln")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new DirectoryNotFoundException($"No Dedup.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>A PromQL series selector: a name followed by its label matchers or a range (a function name is followed by "(").</summary>
    [GeneratedRegex(@"(?<![\w$])(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]")]
    private static partial Regex MetricSelector();

    /// <summary>A bind mount's source in a compose file's short syntax: <c>- ./path:/target</c>.</summary>
    [GeneratedRegex(@"^\s*-\s*(?<source>\./[^:\s]+):", RegexOptions.Multiline)]
    private static partial Regex BindMount();
}
