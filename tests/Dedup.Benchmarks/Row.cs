using System.Text.Json.Serialization;

namespace Dedup.Benchmarks;

/// <summary>One row of artifacts/bench/results.json (the schema, plus the extra fields named below).</summary>
public sealed record Row
{
    [JsonPropertyName("transport")] public required string Transport { get; init; }
    [JsonPropertyName("prefetch")] public required int Prefetch { get; init; }
    [JsonPropertyName("workload")] public required string Workload { get; init; }
    [JsonPropertyName("variant")] public required string Variant { get; init; }
    [JsonPropertyName("messages")] public required int Messages { get; init; }
    [JsonPropertyName("msgPerSec")] public required double MsgPerSec { get; init; }
    [JsonPropertyName("ratioToNone")] public double RatioToNone { get; set; }
    [JsonPropertyName("p50Ms")] public required double P50Ms { get; init; }
    [JsonPropertyName("p99Ms")] public required double P99Ms { get; init; }
    [JsonPropertyName("redisCommandsPerMessage")] public required double RedisCommandsPerMessage { get; init; }
    [JsonPropertyName("redisBytesPerRecord")] public required double RedisBytesPerRecord { get; init; }

    // Extra fields: round trips (script calls for dedup, plain commands for the seed), executions, and for bursts
    // how long after the original's work finished the waiting copies finished.
    [JsonPropertyName("redisRoundTripsPerMessage")] public required double RedisRoundTripsPerMessage { get; init; }
    [JsonPropertyName("unique")] public required int Unique { get; init; }
    [JsonPropertyName("executions")] public required int Executions { get; init; }
    [JsonPropertyName("burstWakeP50Ms")] public double? BurstWakeP50Ms { get; init; }
}
