namespace Dedup.Benchmarks;

/// <summary>
/// Turns per-round measurements into rows and cost summaries. Anything compared (a ratio, a CPU difference, a derived
/// duplicate cost) is computed between rows of the same round first; only then is the median over rounds taken.
/// </summary>
public static class Results
{
    public static List<Row> Rows(IReadOnlyList<Measurement> measurements)
    {
        var rows = new List<Row>();
        foreach (var group in measurements.GroupBy(m => (m.Transport, m.Prefetch, m.Workload, m.Variant)))
        {
            var rounds = group.OrderBy(m => m.Round).ToList();
            var perRound = rounds.Select(m =>
            {
                var none = SameRound(measurements, m, m.Workload, "none");
                return new
                {
                    Measured = m,
                    Ratio = none is not null && Comparable(m, none) && none.MsgPerSec > 0 ? m.MsgPerSec / none.MsgPerSec : (double?)null,
                    AddedCpu = none is not null && Comparable(m, none) && m.Variant != "none" ? m.WorkerCpuUsPerMessage - none.WorkerCpuUsPerMessage : (double?)null,
                };
            }).ToList();

            // A ratio is printed only when every round had one: a median over the rounds that happened to run long
            // enough would hide the others.
            var ratios = perRound.All(r => r.Ratio is not null) ? perRound.Select(r => r.Ratio!.Value).ToList() : [];
            rows.Add(new Row
            {
                Transport = group.Key.Transport,
                Prefetch = group.Key.Prefetch,
                Workload = group.Key.Workload,
                Variant = group.Key.Variant,
                Rounds = rounds.Count,
                Messages = rounds.Sum(m => m.Messages),
                Seconds = Math.Round(Median(rounds, m => m.Seconds), 3),
                MsgPerSec = Math.Round(Median(rounds, m => m.MsgPerSec), 1),
                MsgPerSecMin = Math.Round(rounds.Min(m => m.MsgPerSec), 1),
                MsgPerSecMax = Math.Round(rounds.Max(m => m.MsgPerSec), 1),
                RatioToNone = Stats.Round(Stats.Median(ratios), 3),
                RatioToNoneMin = ratios.Count > 0 ? Math.Round(ratios.Min(), 3) : null,
                RatioToNoneMax = ratios.Count > 0 ? Math.Round(ratios.Max(), 3) : null,
                P50Ms = Math.Round(Median(rounds, m => m.P50Ms), 3),
                P90Ms = Math.Round(Median(rounds, m => m.P90Ms), 3),
                P99Ms = Math.Round(Median(rounds, m => m.P99Ms), 3),
                RedisCommandsPerMessage = Math.Round(Median(rounds, m => m.RedisCommandsPerMessage), 3),
                RedisRoundTripsPerMessage = Math.Round(Median(rounds, m => m.RedisRoundTripsPerMessage), 3),
                RedisBytesPerRecord = Stats.Round(Stats.Median(rounds.Select(m => m.RedisBytesPerRecord)), 1),
                WorkerCpuUsPerMessage = Math.Round(Median(rounds, m => m.WorkerCpuUsPerMessage), 2),
                WorkerCpuUsPerMessageMin = Math.Round(rounds.Min(m => m.WorkerCpuUsPerMessage), 2),
                WorkerCpuUsPerMessageMax = Math.Round(rounds.Max(m => m.WorkerCpuUsPerMessage), 2),
                AddedWorkerCpuUsPerMessage = Stats.Round(Stats.Median(perRound.Select(r => r.AddedCpu)), 2),
                RedisCpuUsPerMessage = Math.Round(Median(rounds, m => m.RedisCpuUsPerMessage), 2),
                RedisCpuUsPerMessageMin = Math.Round(rounds.Min(m => m.RedisCpuUsPerMessage), 2),
                RedisCpuUsPerMessageMax = Math.Round(rounds.Max(m => m.RedisCpuUsPerMessage), 2),
                Unique = rounds.Sum(m => m.RowUniqueIds),
                Executions = rounds.Sum(m => m.RowExecutions),
                BurstWakeP50Ms = Stats.Round(Stats.Median(rounds.Select(m => m.BurstWakeP50Ms)), 2),
                PerRound = perRound.Select(r => new RoundFigures(
                    r.Measured.Round,
                    Math.Round(r.Measured.Seconds, 3),
                    r.Measured.Messages,
                    Math.Round(r.Measured.MsgPerSec, 1),
                    Stats.Round(r.Ratio, 3),
                    Math.Round(r.Measured.P50Ms, 3),
                    Math.Round(r.Measured.P99Ms, 3),
                    Math.Round(r.Measured.WorkerCpuUsPerMessage, 2),
                    Math.Round(r.Measured.RedisCpuUsPerMessage, 2))).ToList(),
            });
        }

        return rows;
    }

    public static List<CostSummary> Costs(IReadOnlyList<Measurement> measurements)
    {
        var costs = new List<CostSummary>();
        var uniques = measurements.Where(m => m.Workload == "unique" && m.Variant != "none");
        foreach (var group in uniques.GroupBy(m => (m.Transport, m.Prefetch, m.Variant)))
        {
            var addedFirst = new List<double>();
            var addedDuplicate = new List<double>();
            var redisFirst = new List<double>();
            var redisDuplicate = new List<double>();
            foreach (var unique in group)
            {
                redisFirst.Add(unique.RedisCpuUsPerMessage);
                var none = SameRound(measurements, unique, "unique", "none");
                var dup30 = SameRound(measurements, unique, "dup30", unique.Variant);
                var noneDup30 = SameRound(measurements, unique, "dup30", "none");
                if (none is not null && !Comparable(unique, none))
                    none = null;
                if (dup30 is not null && !Comparable(unique, dup30))
                    dup30 = null;
                if (noneDup30 is not null && dup30 is not null && !Comparable(dup30, noneDup30))
                    noneDup30 = null;
                if (none is not null)
                    addedFirst.Add(unique.WorkerCpuUsPerMessage - none.WorkerCpuUsPerMessage);
                if (dup30 is not null && Derived(dup30.RedisCpuUsPerMessage, unique.RedisCpuUsPerMessage, dup30.SkippedShare) is { } r)
                    redisDuplicate.Add(r);
                if (dup30 is not null && none is not null && noneDup30 is not null
                    && Derived(dup30.WorkerCpuUsPerMessage - noneDup30.WorkerCpuUsPerMessage, unique.WorkerCpuUsPerMessage - none.WorkerCpuUsPerMessage, dup30.SkippedShare) is { } w)
                {
                    addedDuplicate.Add(w);
                }
            }

            costs.Add(new CostSummary
            {
                Transport = group.Key.Transport,
                Prefetch = group.Key.Prefetch,
                Variant = group.Key.Variant,
                Rounds = group.Count(),
                AddedWorkerCpuUsPerFirstDelivery = Stats.Round(Stats.Median(addedFirst), 2),
                AddedWorkerCpuUsPerDuplicate = Stats.Round(Stats.Median(addedDuplicate), 2),
                RedisCpuUsPerFirstDelivery = Stats.Round(Stats.Median(redisFirst), 2),
                RedisCpuUsPerDuplicate = Stats.Round(Stats.Median(redisDuplicate), 2),
            });
        }

        return costs;
    }

    /// <summary>
    /// The cost of a skipped copy, from a mixed row's cost per message and the first-delivery cost:
    /// mixed = (1 - s) x first + s x duplicate. Null when too few copies were skipped to tell (s below 10%).
    /// </summary>
    static double? Derived(double mixed, double first, double skippedShare) =>
        skippedShare < 0.1 ? null : (mixed - (1 - skippedShare) * first) / skippedShare;

    static Measurement? SameRound(IReadOnlyList<Measurement> all, Measurement m, string workload, string variant) =>
        all.FirstOrDefault(o => o.Transport == m.Transport && o.Prefetch == m.Prefetch && o.Round == m.Round && o.Workload == workload && o.Variant == variant);

    static bool Comparable(Measurement a, Measurement b) =>
        a.Seconds >= BenchSettings.MinComparableSeconds && b.Seconds >= BenchSettings.MinComparableSeconds;

    static double Median(IEnumerable<Measurement> rounds, Func<Measurement, double> figure) => Stats.Median(rounds.Select(figure)) ?? 0;
}
