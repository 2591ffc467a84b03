using System.Globalization;
using System.Text;

namespace Dedup.Benchmarks;

public static class Markdown
{
    public static string Table(IReadOnlyList<Row> rows, bool quick, TimeSpan took)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Dedup benchmark, {(quick ? "quick" : "full")} mode, {DateTime.UtcNow:yyyy-MM-dd} UTC, {Environment.ProcessorCount} cores, took {took.TotalSeconds:0} s");
        text.AppendLine();
        text.AppendLine("| transport | prefetch | workload | variant | messages | unique | executions | msg/s | ratio to none | p50 ms | p99 ms | Redis cmds/msg | round trips/msg | bytes/record | burst wake p50 ms |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Transport} | {r.Prefetch} | {r.Workload} | {r.Variant} | {r.Messages} | {r.Unique} | {r.Executions} | {r.MsgPerSec:0} | {r.RatioToNone:0.00} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.RedisCommandsPerMessage:0.00} | {r.RedisRoundTripsPerMessage:0.00} | {(r.Variant == "none" ? "-" : r.RedisBytesPerRecord.ToString("0", CultureInfo.InvariantCulture))} | {(r.BurstWakeP50Ms is { } w ? w.ToString("0.0", CultureInfo.InvariantCulture) : "-")} |");
        }

        return text.ToString();
    }
}
