using System.Globalization;
using System.Text.Json.Serialization;

namespace Dedup.Benchmarks;

/// <summary>
/// How long and how often the macro benchmark measures. Full and quick share the design (fixed-time rows after a
/// warm-up, variants interleaved, repeated rounds, medians and spreads); quick only has shorter rows and fewer rounds.
/// </summary>
public sealed record BenchSettings
{
    /// <summary>A ratio or a CPU difference is printed only when both rows measured at least this long.</summary>
    public const double MinComparableSeconds = 1.0;

    /// <summary>Bytes per record are printed only over at least this many records (bursts have tens: buffer noise).</summary>
    public const int MinRecordsForBytes = 1000;

    public required bool Quick { get; init; }

    /// <summary>Unmeasured traffic at the start of every row, until the queue and the in-flight window are steady.</summary>
    [JsonIgnore] public TimeSpan RowWarmup { get; init; }

    [JsonPropertyName("rowWarmupSeconds")] public double RowWarmupSeconds => RowWarmup.TotalSeconds;

    /// <summary>The measured window of every row.</summary>
    [JsonIgnore] public TimeSpan RowWindow { get; init; }

    [JsonPropertyName("rowWindowSeconds")] public double RowWindowSeconds => RowWindow.TotalSeconds;

    /// <summary>Interleaved rounds (none, dedup, seed for every workload, then again).</summary>
    public required int Rounds { get; init; }

    /// <summary>
    /// The rows of the unmeasured round each transport starts with (every workload through every variant's new bus:
    /// JIT tiers, connections, script cache).
    /// </summary>
    [JsonIgnore] public TimeSpan BusWarmup { get; init; }

    [JsonPropertyName("busWarmupSeconds")] public double BusWarmupSeconds => BusWarmup.TotalSeconds;

    public bool WithRabbitMq { get; init; } = true;

    public static BenchSettings Full => new()
    {
        Quick = false,
        RowWarmup = TimeSpan.FromSeconds(2),
        RowWindow = TimeSpan.FromSeconds(5),
        Rounds = 3,
        BusWarmup = TimeSpan.FromSeconds(1),
    };

    /// <summary>
    /// The CI smoke: 1 s windows (just long enough for a ratio), 2 rounds (a spread, however rough), and RabbitMQ at
    /// prefetch 128 only (the target's setting; prefetch 32 runs the same code and would add 25 s to CI).
    /// </summary>
    public static BenchSettings QuickSmoke => new()
    {
        Quick = true,
        RowWarmup = TimeSpan.FromSeconds(0.1),
        RowWindow = TimeSpan.FromSeconds(MinComparableSeconds),
        Rounds = 2,
        BusWarmup = TimeSpan.FromSeconds(0.3),
    };

    /// <summary>Messages kept in flight (sent, not yet consumed): enough to keep every consumer slot and the broker busy.</summary>
    /// <remarks>
    /// Latency is measured under this load, so its p50 is about in-flight / throughput (Little's law): a variant's p50
    /// mostly restates its throughput; the gap to p99 is the tail.
    /// </remarks>
    public static int InFlight(int prefetch) => 2 * prefetch + 64;

    /// <summary>
    /// <c>--quick</c>, <c>--no-rabbitmq</c>, and overrides for a longer run on a quiet machine: <c>--rounds N</c>,
    /// <c>--seconds S</c> (measured window), <c>--warmup S</c> (row warm-up).
    /// </summary>
    public static BenchSettings Parse(IReadOnlyList<string> args)
    {
        var settings = (args.Contains("--quick") ? QuickSmoke : Full) with { WithRabbitMq = !args.Contains("--no-rabbitmq") };
        for (var i = 0; i < args.Count; i++)
        {
            settings = args[i] switch
            {
                "--rounds" => settings with { Rounds = (int)Number(args, i, 1, 50) },
                "--seconds" => settings with { RowWindow = TimeSpan.FromSeconds(Number(args, i, 0.1, 600)) },
                "--warmup" => settings with { RowWarmup = TimeSpan.FromSeconds(Number(args, i, 0, 600)) },
                _ => settings,
            };
        }

        return settings;
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{(Quick ? "quick" : "full")} mode: {Rounds} interleaved round{(Rounds == 1 ? "" : "s")}, rows of {RowWarmup.TotalSeconds:0.##} s warm-up + {RowWindow.TotalSeconds:0.##} s measured");

    static double Number(IReadOnlyList<string> args, int i, double min, double max)
    {
        if (i + 1 >= args.Count)
            throw new ArgumentException($"{args[i]} takes a number from {min} to {max}, and none followed it.");
        if (!double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new ArgumentException($"{args[i]} takes a number from {min} to {max}; got '{args[i + 1]}'.");
        return value;
    }
}
