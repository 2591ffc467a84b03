using System.Text.Json.Serialization;

namespace Dedup.Benchmarks;

/// <summary>
/// One row of artifacts/bench/results.json: a (transport, prefetch, workload, variant) over all its rounds. The issue's
/// fields keep their names; a figure is the median over rounds, and <c>...Min</c>/<c>...Max</c> give its spread.
/// Null means "not measured well enough to print" (the table shows "-").
/// </summary>
public sealed record Row
{
    [JsonPropertyName("transport")] public required string Transport { get; init; }
    [JsonPropertyName("prefetch")] public required int Prefetch { get; init; }
    [JsonPropertyName("workload")] public required string Workload { get; init; }
    [JsonPropertyName("variant")] public required string Variant { get; init; }

    /// <summary>How many interleaved rounds the medians come from.</summary>
    [JsonPropertyName("rounds")] public required int Rounds { get; init; }

    /// <summary>Deliveries inside the measured windows, all rounds together.</summary>
    [JsonPropertyName("messages")] public required int Messages { get; init; }

    /// <summary>Median length of the measured window.</summary>
    [JsonPropertyName("seconds")] public required double Seconds { get; init; }

    [JsonPropertyName("msgPerSec")] public required double MsgPerSec { get; init; }
    [JsonPropertyName("msgPerSecMin")] public required double MsgPerSecMin { get; init; }
    [JsonPropertyName("msgPerSecMax")] public required double MsgPerSecMax { get; init; }

    /// <summary>
    /// Median over rounds of msg/s divided by the none row's of the same round; null when a round's rows measured
    /// less than <see cref="BenchSettings.MinComparableSeconds"/>.
    /// </summary>
    [JsonPropertyName("ratioToNone")] public required double? RatioToNone { get; init; }
    [JsonPropertyName("ratioToNoneMin")] public required double? RatioToNoneMin { get; init; }
    [JsonPropertyName("ratioToNoneMax")] public required double? RatioToNoneMax { get; init; }

    [JsonPropertyName("p50Ms")] public required double P50Ms { get; init; }
    [JsonPropertyName("p90Ms")] public required double P90Ms { get; init; }
    [JsonPropertyName("p99Ms")] public required double P99Ms { get; init; }
    [JsonPropertyName("redisCommandsPerMessage")] public required double RedisCommandsPerMessage { get; init; }

    /// <summary>Script calls per message for dedup; commands per message for the seed (each its own round trip).</summary>
    [JsonPropertyName("redisRoundTripsPerMessage")] public required double RedisRoundTripsPerMessage { get; init; }

    /// <summary>Null for none, and where a row leaves fewer than <see cref="BenchSettings.MinRecordsForBytes"/> records (bursts).</summary>
    [JsonPropertyName("redisBytesPerRecord")] public required double? RedisBytesPerRecord { get; init; }

    [JsonPropertyName("workerCpuUsPerMessage")] public required double WorkerCpuUsPerMessage { get; init; }
    [JsonPropertyName("workerCpuUsPerMessageMin")] public required double WorkerCpuUsPerMessageMin { get; init; }
    [JsonPropertyName("workerCpuUsPerMessageMax")] public required double WorkerCpuUsPerMessageMax { get; init; }

    /// <summary>Median over rounds of this row's worker CPU per message minus the none row's of the same round.</summary>
    [JsonPropertyName("addedWorkerCpuUsPerMessage")] public required double? AddedWorkerCpuUsPerMessage { get; init; }

    [JsonPropertyName("redisCpuUsPerMessage")] public required double RedisCpuUsPerMessage { get; init; }
    [JsonPropertyName("redisCpuUsPerMessageMin")] public required double RedisCpuUsPerMessageMin { get; init; }
    [JsonPropertyName("redisCpuUsPerMessageMax")] public required double RedisCpuUsPerMessageMax { get; init; }

    /// <summary>Whole rows (warm-up and drain included), all rounds: distinct ids sent and consumer executions.</summary>
    [JsonPropertyName("unique")] public required int Unique { get; init; }
    [JsonPropertyName("executions")] public required int Executions { get; init; }

    /// <summary>For bursts: how long after the original's work finished its waiting copies finished (p50, ms; median over rounds).</summary>
    [JsonPropertyName("burstWakeP50Ms")] public double? BurstWakeP50Ms { get; init; }

    [JsonPropertyName("perRound")] public required IReadOnlyList<RoundFigures> PerRound { get; init; }
}

/// <summary>A row's main figures in one round, as measured.</summary>
public sealed record RoundFigures(
    [property: JsonPropertyName("round")] int Round,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("messages")] int Messages,
    [property: JsonPropertyName("msgPerSec")] double MsgPerSec,
    [property: JsonPropertyName("ratioToNone")] double? RatioToNone,
    [property: JsonPropertyName("p50Ms")] double P50Ms,
    [property: JsonPropertyName("p99Ms")] double P99Ms,
    [property: JsonPropertyName("workerCpuUsPerMessage")] double WorkerCpuUsPerMessage,
    [property: JsonPropertyName("redisCpuUsPerMessage")] double RedisCpuUsPerMessage);

/// <summary>
/// What dedup (or the seed) costs per first delivery and per duplicate on one transport. First deliveries are the
/// unique rows (every message a first delivery); duplicates are derived from the dup30 rows of the same round:
/// per message there = (1 - s) x first + s x duplicate, s being the share of its deliveries that did not execute.
/// </summary>
public sealed record CostSummary
{
    [JsonPropertyName("transport")] public required string Transport { get; init; }
    [JsonPropertyName("prefetch")] public required int Prefetch { get; init; }
    [JsonPropertyName("variant")] public required string Variant { get; init; }
    [JsonPropertyName("rounds")] public required int Rounds { get; init; }
    [JsonPropertyName("addedWorkerCpuUsPerFirstDelivery")] public required double? AddedWorkerCpuUsPerFirstDelivery { get; init; }
    [JsonPropertyName("addedWorkerCpuUsPerDuplicate")] public required double? AddedWorkerCpuUsPerDuplicate { get; init; }
    [JsonPropertyName("redisCpuUsPerFirstDelivery")] public required double? RedisCpuUsPerFirstDelivery { get; init; }
    [JsonPropertyName("redisCpuUsPerDuplicate")] public required double? RedisCpuUsPerDuplicate { get; init; }
}
