using System.Text.Json;
using BenchmarkDotNet.Running;
using Dedup.Benchmarks;
using Dedup.Testing;

// dotnet run -c Release --project tests/Dedup.Benchmarks [-- --quick] [-- --no-rabbitmq]
// dotnet run -c Release --project tests/Dedup.Benchmarks -- micro [BenchmarkDotNet args]
if (args.Length > 0 && args[0] == "micro")
{
    BenchmarkSwitcher.FromAssembly(typeof(HotPathBenchmarks).Assembly).Run(args[1..]);
    return 0;
}

var quick = args.Contains("--quick");
var root = RepoRoot();
var output = Path.Combine(root, "artifacts", "bench");
Directory.CreateDirectory(output);
Console.WriteLine($"Dedup benchmark ({(quick ? "quick" : "full")}), {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");

await using var redis = await RedisServer.StartAsync();
await using var rabbit = args.Contains("--no-rabbitmq") ? null : await RabbitMqServer.StartAsync();
var started = DateTime.UtcNow;
var rows = await new MacroBenchmark(redis, rabbit, quick).RunAsync();

var json = JsonSerializer.Serialize(new { rows }, new JsonSerializerOptions { WriteIndented = true });
await File.WriteAllTextAsync(Path.Combine(output, "results.json"), json);
await File.WriteAllTextAsync(Path.Combine(output, "results.md"), Markdown.Table(rows, quick, DateTime.UtcNow - started));
Console.WriteLine(Markdown.Table(rows, quick, DateTime.UtcNow - started));
Console.WriteLine($"wrote {Path.Combine(output, "results.json")} and results.md");
return 0;

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Dedup.sln")))
            return dir.FullName;
    }

    return Directory.GetCurrentDirectory();
}
