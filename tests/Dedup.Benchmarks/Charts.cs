using ScottPlot;

namespace Dedup.Benchmarks;

/// <summary>
/// PNG charts next to results.md (ScottPlot on SkiaSharp, headless): throughput per variant with its min-max spread
/// over rounds, latency (p50 bar, p99 whisker), and CPU per message (the benchmark process, Redis stacked on top).
/// Bursts are left out: their throughput is set by the consumer's 20 ms of work, and their figure is the wake-up.
/// </summary>
public static class Charts
{
    const int Width = 1200;
    const int Height = 600;

    static readonly Color[] VariantColors = [Color.FromHex("#7f7f7f"), Color.FromHex("#1f77b4"), Color.FromHex("#17becf"), Color.FromHex("#ff7f0e")];
    static readonly Color RedisColor = Color.FromHex("#d62728");

    /// <summary>Writes throughput.png, latency.png and cpu.png into <paramref name="folder"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, IReadOnlyList<Row> rows, string subtitle)
    {
        var groups = rows.Where(r => r.Workload != "burst")
            .GroupBy(r => (r.Transport, r.Prefetch, r.Workload))
            .Select(g => (Label: $"{g.Key.Transport} {g.Key.Prefetch}\n{g.Key.Workload}", Rows: g.ToList()))
            .ToList();

        var throughput = Path.Combine(folder, "throughput.png");
        Draw(groups, "msg/s (median over rounds; whiskers: min-max)", subtitle, throughput, extraLegend: null, (plot, x, row) =>
            (row.MsgPerSec, row.MsgPerSec - row.MsgPerSecMin, row.MsgPerSecMax - row.MsgPerSec));

        var latency = Path.Combine(folder, "latency.png");
        Draw(groups, "send-to-consume latency, ms (bar: p50; whisker: p99; medians over rounds)", subtitle, latency, extraLegend: null, (plot, x, row) =>
            (row.P50Ms, 0, row.P99Ms - row.P50Ms));

        var cpu = Path.Combine(folder, "cpu.png");
        Draw(groups, "CPU per message, us (benchmark process; Redis server on top; medians over rounds)", subtitle, cpu, ("Redis server", RedisColor), (plot, x, row) =>
        {
            var redis = new Bar
            {
                Position = x,
                ValueBase = row.WorkerCpuUsPerMessage,
                Value = row.WorkerCpuUsPerMessage + row.RedisCpuUsPerMessage,
                FillColor = RedisColor,
                Size = 0.8,
            };
            plot.Add.Bars(new[] { redis });
            return (row.WorkerCpuUsPerMessage, 0, 0);
        });

        return [throughput, latency, cpu];
    }

    /// <summary>
    /// One grouped bar chart: a group per (transport, prefetch, workload), a bar per variant. <paramref name="figure"/>
    /// gives a bar's value and its whisker below and above (0 for none), and may add plottables of its own
    /// (named in the legend by <paramref name="extraLegend"/>).
    /// </summary>
    static void Draw(
        List<(string Label, List<Row> Rows)> groups,
        string title,
        string subtitle,
        string path,
        (string Label, Color Color)? extraLegend,
        Func<Plot, double, Row, (double Value, double Below, double Above)> figure)
    {
        var plot = new Plot();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        List<double> xs = [], ys = [], below = [], above = [];
        for (var g = 0; g < groups.Count; g++)
        {
            var groupStart = g * (VariantBus.Variants.Length + 1);
            ticks.AddMajor(groupStart + (VariantBus.Variants.Length - 1) / 2.0, groups[g].Label);
            for (var v = 0; v < VariantBus.Variants.Length; v++)
            {
                var row = groups[g].Rows.SingleOrDefault(r => r.Variant == VariantBus.Variants[v]);
                if (row is null)
                    continue;
                var x = groupStart + v;
                var (value, whiskerBelow, whiskerAbove) = figure(plot, x, row);
                plot.Add.Bars(new[] { new Bar { Position = x, Value = value, FillColor = VariantColors[v], Size = 0.8 } });
                if (whiskerBelow > 0 || whiskerAbove > 0)
                {
                    xs.Add(x);
                    ys.Add(value);
                    below.Add(whiskerBelow);
                    above.Add(whiskerAbove);
                }
            }
        }

        if (xs.Count > 0)
        {
            var zeros = new double[xs.Count];
            var whiskers = new ScottPlot.Plottables.ErrorBar(xs, ys, zeros, zeros, above, below) { Color = Colors.Black, LineWidth = 1.5f };
            plot.Add.Plottable(whiskers);
        }

        for (var v = 0; v < VariantBus.Variants.Length; v++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = VariantBus.Variants[v], FillColor = VariantColors[v] });
        if (extraLegend is { } extra)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = extra.Label, FillColor = extra.Color });
        plot.ShowLegend(Alignment.UpperRight);

        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Margins(bottom: 0);
        plot.Title(title + "\n" + subtitle, size: 14);
        plot.SavePng(path, Width, Height);
    }
}
