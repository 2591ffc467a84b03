namespace Dedup.Worker.Traffic;

internal static class TrafficCommand
{
    public static readonly IReadOnlySet<string> OptionNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "count", "requests", "external-share", "dup-share", "concurrent-share", "concurrency", "rate", "seed", "timeout",
    };

    public static Task<int> RunAsync(Options options) => Task.FromResult(0);
}
