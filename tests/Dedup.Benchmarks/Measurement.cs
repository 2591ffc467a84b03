namespace Dedup.Benchmarks;

/// <summary>
/// One row in one round: figures over the measured window (after the row's warm-up), except where a name says it
/// covers the whole row.
/// </summary>
public sealed record Measurement
{
    public required string Transport { get; init; }
    public required int Prefetch { get; init; }
    public required string Workload { get; init; }
    public required string Variant { get; init; }
    public required int Round { get; init; }

    /// <summary>Length of the measured window.</summary>
    public required double Seconds { get; init; }

    /// <summary>Deliveries (consumed messages, duplicates included) that finished inside the window.</summary>
    public required int Messages { get; init; }

    /// <summary>Consumer executions inside the window (fewer than <see cref="Messages"/> where dedup skipped copies).</summary>
    public required int Executions { get; init; }

    public required double MsgPerSec { get; init; }
    public required double P50Ms { get; init; }
    public required double P90Ms { get; init; }
    public required double P99Ms { get; init; }
    public required double RedisCommandsPerMessage { get; init; }
    public required double RedisRoundTripsPerMessage { get; init; }

    /// <summary>The benchmark process's CPU (sender, transport, filter, consumer) per message.</summary>
    public required double WorkerCpuUsPerMessage { get; init; }

    /// <summary>Bytes the benchmark process allocated (every thread) per message.</summary>
    public required double AllocatedBytesPerMessage { get; init; }

    /// <summary>Thread-pool work items the benchmark process completed per message (<see cref="ThreadPool.CompletedWorkItemCount"/>).</summary>
    public required double PoolWorkItemsPerMessage { get; init; }

    /// <summary>The Redis server's CPU per message.</summary>
    public required double RedisCpuUsPerMessage { get; init; }

    /// <summary>used_memory growth over the whole row per unique id; null when too few records to tell from noise.</summary>
    public required double? RedisBytesPerRecord { get; init; }

    /// <summary>Whole row (warm-up, window and drain): ids sent, messages sent, consumer executions.</summary>
    public required int RowUniqueIds { get; init; }
    public required int RowMessages { get; init; }
    public required int RowExecutions { get; init; }

    /// <summary>Methods the JIT compiled inside the window (tier-1 recompiles included): a row that needed many ran partly unoptimised.</summary>
    public required long MethodsCompiled { get; init; }

    /// <summary>For bursts: how long after the original's work finished its copies finished (p50, ms).</summary>
    public required double? BurstWakeP50Ms { get; init; }

    /// <summary>The share of window deliveries that did not execute (duplicates, for dedup and the seed's lucky ones).</summary>
    public double SkippedShare => Messages == 0 ? 0 : (double)(Messages - Executions) / Messages;
}
