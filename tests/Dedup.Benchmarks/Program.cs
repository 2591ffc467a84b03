using System.Diagnostics;
using System.Text.Json;
using BenchmarkDotNet.Running;
using Dedup.Benchmarks;
using Dedup.Testing;

// dotnet run -c Release --project tests/Dedup.Benchmarks [-- --quick] [--no-rabbitmq] [--rounds N] [--seconds S] [--warmup S]
// dotnet run -c Release --project tests/Dedup.Benchmarks -- scripts [--quick] [--seconds S] [--rounds N] [--callgrind]
// dotnet run -c Release --project tests/Dedup.Benchmarks -- micro [BenchmarkDotNet args]
// dotnet run -c Release --project tests/Dedup.Benchmarks -- soak [--transport inmemory|rabbitmq] [--variant none|dedup|dedup-memory|dedup-batched|seed] [--workload unique|dup30|burst] [--seconds S] [--alloc-types]
if (args.Length > 0 && args[0] == "micro")
{
    BenchmarkSwitcher.FromAssembly(typeof(HotPathBenchmarks).Assembly).Run(args[1..]);
    return 0;
}

var settings = BenchSettings.Parse(args);
var output = Path.Combine(RepoRoot(), "artifacts", "bench");
Directory.CreateDirectory(output);
var json = new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
var run = new RunInfo { Settings = settings, StartedUtc = DateTime.UtcNow, LoadBefore = RunInfo.LoadAverage() };
var clock = Stopwatch.StartNew();

await using var redis = await RedisServer.StartAsync();
await using var gauges = await RedisGauges.ConnectAsync(redis.ConnectionString);

if (args.Length > 0 && args[0] == "scripts")
{
    // Its own idle Redis: no broker, no bus, nothing else calling the server.
    var phase = args.Contains("--seconds") ? settings.RowWindow : TimeSpan.FromSeconds(settings.Quick ? 1 : 3);
    Console.WriteLine($"Dedup script benchmark, {settings.Rounds} interleaved rounds of {phase.TotalSeconds:0.##} s per call, level and variant, {Environment.ProcessorCount} cores, load average {run.LoadBefore}");
    List<ScriptRow> scriptRows;
    string header;
    if (args.Contains("--callgrind"))
    {
        // The server under valgrind: instructions per call, which the machine's load does not move.
        await using var callgrind = await CallgrindRedis.StartAsync();
        await using var callgrindGauges = await RedisGauges.ConnectAsync(callgrind.ConnectionString);
        scriptRows = await new ScriptBenchmark(callgrind.ConnectionString, callgrindGauges, phase, 1, callgrind).RunAsync();
        header = $"Dedup script benchmark, redis-server under callgrind; {run.StartedUtc:yyyy-MM-dd HH:mm} UTC.";
    }
    else
    {
        scriptRows = await new ScriptBenchmark(redis.ConnectionString, gauges, phase, settings.Rounds).RunAsync();
        header = $"Dedup script benchmark on an idle Redis, {settings.Rounds} interleaved rounds of {phase.TotalSeconds:0.##} s per call, level and variant; {run.StartedUtc:yyyy-MM-dd HH:mm} UTC, {run.Cores} cores; load average {run.LoadBefore} before, {RunInfo.LoadAverage()} after.";
    }

    var scriptTable = ScriptBenchmark.Markdown(scriptRows, header);
    await File.WriteAllTextAsync(Path.Combine(output, "scripts.json"), JsonSerializer.Serialize(new { run = run with { Took = clock.Elapsed, LoadAfter = RunInfo.LoadAverage() }, rows = scriptRows }, json));
    await File.WriteAllTextAsync(Path.Combine(output, "scripts.md"), scriptTable);
    Console.WriteLine(scriptTable);
    Console.WriteLine($"wrote {Path.Combine(output, "scripts.json")} and scripts.md");
    return 0;
}

if (args.Length > 0 && args[0] == "soak")
{
    // One variant for a long row, for a profiler: dotnet-trace collect -p <the process id it prints> --duration 00:00:20
    var transport = Option("--transport", "inmemory");
    await using var soakRabbit = transport == "rabbitmq" ? await RabbitMqServer.StartAsync() : null;
    var soak = settings with { RowWindow = args.Contains("--seconds") ? settings.RowWindow : TimeSpan.FromSeconds(30) };
    await new MacroBenchmark(redis, soakRabbit, gauges, soak)
        .SoakAsync(transport, transport == "rabbitmq" ? 128 : 32, Option("--variant", "dedup"), Option("--workload", "unique"), soak.RowWindow, args.Contains("--alloc-types"));
    return 0;
}

Console.WriteLine($"Dedup benchmark, {settings.Describe()}, {Environment.ProcessorCount} cores, {run.StartedUtc:yyyy-MM-dd HH:mm} UTC, load average {run.LoadBefore}");
await using var rabbit = settings.WithRabbitMq ? await RabbitMqServer.StartAsync() : null;
var measurements = await new MacroBenchmark(redis, rabbit, gauges, settings).RunAsync();
run = run with { Took = clock.Elapsed, LoadAfter = RunInfo.LoadAverage() };

var rows = Results.Rows(measurements);
var costs = Results.Costs(measurements);
var report = Markdown.Report(run, rows, costs);
await File.WriteAllTextAsync(Path.Combine(output, "results.json"), JsonSerializer.Serialize(new { run, rows, costs }, json));
await File.WriteAllTextAsync(Path.Combine(output, "results.md"), report);
var charts = Charts.Write(output, rows, $"{settings.Describe()}; {run.StartedUtc:yyyy-MM-dd} UTC, {run.Cores} cores, load average {run.LoadBefore}");
Console.WriteLine(report);
Console.WriteLine($"wrote {Path.Combine(output, "results.json")}, results.md and {string.Join(", ", charts.Select(Path.GetFileName))} in {clock.Elapsed.TotalSeconds:0} s");
return 0;

string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Dedup.sln")))
            return dir.FullName;
    }

    return Directory.GetCurrentDirectory();
}
