using System.Globalization;
using System.Text;

namespace Dedup.Benchmarks;

/// <summary>artifacts/bench/results.md: the rows (median and min-max over rounds) and the cost per first delivery and duplicate.</summary>
public static class Markdown
{
    public static string Report(RunInfo run, IReadOnlyList<Row> rows, IReadOnlyList<CostSummary> costs)
    {
        var text = new StringBuilder();
        text.AppendLine(Invariant($"Dedup benchmark, {run.Settings.Describe()}; {run.StartedUtc:yyyy-MM-dd HH:mm} UTC, {run.Cores} cores, took {run.Took.TotalSeconds:0} s; load average {run.LoadBefore} before, {run.LoadAfter} after."));
        text.AppendLine();
        text.AppendLine("Each figure is the median over rounds, (min-max) its spread; a ratio or an added CPU is computed between rows of the same round, then the median taken. \"-\": not measured well enough to print (a window under 1 s, fewer than 1000 records, none to compare with).");
        text.AppendLine();
        text.AppendLine("| transport | prefetch | workload | variant | msg/s | ratio to none | p50 ms | p99 ms | worker CPU us/msg | added worker CPU us/msg | Redis CPU us/msg | Redis cmds/msg | round trips/msg | bytes/record | executions / unique | burst wake p50 ms |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            text.AppendLine(Invariant(
                $"| {r.Transport} | {r.Prefetch} | {r.Workload} | {r.Variant} | {r.MsgPerSec:0} ({r.MsgPerSecMin:0}-{r.MsgPerSecMax:0}) | {Ratio(r)} | {r.P50Ms:0.00} | {r.P99Ms:0.00} | {r.WorkerCpuUsPerMessage:0.0} ({r.WorkerCpuUsPerMessageMin:0.0}-{r.WorkerCpuUsPerMessageMax:0.0}) | {Or(r.AddedWorkerCpuUsPerMessage, "0.0")} | {r.RedisCpuUsPerMessage:0.0} | {r.RedisCommandsPerMessage:0.00} | {r.RedisRoundTripsPerMessage:0.00} | {Or(r.RedisBytesPerRecord, "0")} | {r.Executions} / {r.Unique} | {Or(r.BurstWakeP50Ms, "0.0")} |"));
        }

        text.AppendLine();
        text.AppendLine("Cost per first delivery (unique rows, less the none row of the same round) and per duplicate (derived from the dup30 rows of the same round: per message = (1 - s) x first + s x duplicate, s the share of deliveries that did not execute), us of CPU, median over rounds:");
        text.AppendLine();
        text.AppendLine("| transport | prefetch | variant | added worker CPU per first delivery | added worker CPU per duplicate | Redis CPU per first delivery | Redis CPU per duplicate |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var c in costs)
        {
            text.AppendLine(Invariant(
                $"| {c.Transport} | {c.Prefetch} | {c.Variant} | {Or(c.AddedWorkerCpuUsPerFirstDelivery, "0.0")} | {Or(c.AddedWorkerCpuUsPerDuplicate, "0.0")} | {Or(c.RedisCpuUsPerFirstDelivery, "0.0")} | {Or(c.RedisCpuUsPerDuplicate, "0.0")} |"));
        }

        return text.ToString();
    }

    static string Ratio(Row r) => r.RatioToNone is { } ratio
        ? Invariant($"{ratio:0.00} ({r.RatioToNoneMin:0.00}-{r.RatioToNoneMax:0.00})")
        : "-";

    static string Or(double? value, string format) => value?.ToString(format, CultureInfo.InvariantCulture) ?? "-";

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
