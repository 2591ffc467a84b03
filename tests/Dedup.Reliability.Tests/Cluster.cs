using System.Text;
using System.Text.Json;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Reliability.Tests;

[CollectionDefinition(Name)]
public sealed class ReliabilityCollection : ICollectionFixture<ReliabilityCluster>
{
    public const string Name = "reliability";
}

/// <summary>
/// What every scenario shares: one RabbitMQ node (each scenario gets its own virtual host, so queues never mix), one
/// Redis for the ledger (each scenario its own key prefix; the dedup Redis is the scenario's own, so faults on it never
/// touch the ledger; a scenario on a Redis Cluster keeps its ledger on its cluster), and the summary the checker writes to artifacts/reliability/summary.json.
/// </summary>
public sealed class ReliabilityCluster : IAsyncLifetime
{
    readonly List<ScenarioResult> _results = [];

    public RabbitMqServer RabbitMq { get; private set; } = null!;

    public RedisServer LedgerRedis { get; private set; } = null!;

    public ConnectionMultiplexer Ledger { get; private set; } = null!;

    public static string SummaryPath => Path.Combine(Repository.Root, "artifacts", "reliability", "summary.json");

    public async Task InitializeAsync()
    {
        _ = (WorkerProcess.WorkerDll, WorkerProcess.HostDll); // fails fast when the worker or the test host is not built
        var rabbit = RabbitMqServer.StartAsync();
        LedgerRedis = await RedisServer.StartAsync(new RedisServerOptions());
        Ledger = await ConnectionMultiplexer.ConnectAsync(LedgerRedis.ConnectionString);
        RabbitMq = await rabbit;
    }

    public async Task DisposeAsync()
    {
        Console.WriteLine(Table());
        Ledger?.Dispose();
        if (LedgerRedis is not null)
            await LedgerRedis.DisposeAsync();
        if (RabbitMq is not null)
            await RabbitMq.DisposeAsync();
    }

    /// <summary>Adds (or replaces) a scenario's result and rewrites the summary file and its table.</summary>
    public void Record(ScenarioResult result)
    {
        lock (_results)
        {
            _results.RemoveAll(r => r.Name == result.Name);
            _results.Add(result);
            _results.Sort((a, b) => Order(a.Name).CompareTo(Order(b.Name)));
            Directory.CreateDirectory(Path.GetDirectoryName(SummaryPath)!);
            var json = JsonSerializer.Serialize(new { scenarios = _results }, JsonOptions);
            File.WriteAllText(SummaryPath, json + "\n");
            File.WriteAllText(Path.ChangeExtension(SummaryPath, ".txt"), Table() + "\n");
        }
    }

    public string Table()
    {
        lock (_results)
        {
            var sb = new StringBuilder();
            sb.AppendLine($"| {"scenario",-46} | {"sent",6} | {"unique",6} | {"executions",10} | {"lost",4} | {"dupExec",7} | {"allowed",7} | passed |");
            sb.AppendLine($"|{new string('-', 48)}|{new string('-', 8)}|{new string('-', 8)}|{new string('-', 12)}|{new string('-', 6)}|{new string('-', 9)}|{new string('-', 9)}|--------|");
            foreach (var r in _results)
                sb.AppendLine($"| {r.Name,-46} | {r.Sent,6} | {r.Unique,6} | {r.Executions,10} | {r.Lost,4} | {r.DuplicateExecutions,7} | {r.AllowedDuplicateExecutions,7} | {(r.Passed ? "yes" : "NO"),-6} |");
            foreach (var r in _results.Where(r => r.Notes is not null))
                sb.AppendLine($"{r.Name}: {r.Notes}");
            return sb.ToString();
        }
    }

    static (int, string) Order(string name)
    {
        var head = name.Split('-')[0];
        var digits = new string([.. head.TakeWhile(char.IsDigit)]);
        return (int.TryParse(digits, out var n) ? n : 999, head);
    }

    static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };
}

/// <summary>One scenario's line in summary.json (the issue's schema; <c>notes</c>: a scenario's own figures, or null).</summary>
public sealed record ScenarioResult(
    string Name,
    int Sent,
    int Unique,
    long Executions,
    int Lost,
    long DuplicateExecutions,
    long AllowedDuplicateExecutions,
    bool Passed,
    string? Notes = null);
