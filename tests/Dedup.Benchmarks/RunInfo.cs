using System.Text.Json.Serialization;

namespace Dedup.Benchmarks;

/// <summary>When and where a run happened, and how busy the machine was: the rows' figures mean little without it.</summary>
public sealed record RunInfo
{
    [JsonPropertyName("mode")] public string Mode => Settings.Quick ? "quick" : "full";
    [JsonPropertyName("settings")] public required BenchSettings Settings { get; init; }
    [JsonPropertyName("startedUtc")] public required DateTime StartedUtc { get; init; }
    [JsonPropertyName("cores")] public int Cores { get; init; } = Environment.ProcessorCount;
    [JsonIgnore] public TimeSpan Took { get; init; }
    [JsonPropertyName("tookSeconds")] public double TookSeconds => Math.Round(Took.TotalSeconds, 1);

    /// <summary>/proc/loadavg's 1, 5 and 15 minute averages when the rows started and ended ("?" off Linux).</summary>
    [JsonPropertyName("loadBefore")] public required string LoadBefore { get; init; }
    [JsonPropertyName("loadAfter")] public string LoadAfter { get; init; } = "?";

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
        catch (UnauthorizedAccessException)
        {
            return "?";
        }
    }
}
