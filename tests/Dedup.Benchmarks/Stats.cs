namespace Dedup.Benchmarks;

public static class Stats
{
    /// <summary>The nearest-rank percentile of an ascending array (0 when empty).</summary>
    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>The median (the mean of the middle two for an even count); null when there are no values.</summary>
    public static double? Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
            return null;
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>The median of the values that are not null; null when none is.</summary>
    public static double? Median(IEnumerable<double?> values) => Median(values.OfType<double>());

    public static double? Round(double? value, int digits) => value is { } v ? Math.Round(v, digits) : null;
}
