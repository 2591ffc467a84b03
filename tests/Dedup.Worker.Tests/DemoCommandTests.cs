using System.Text.RegularExpressions;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>The embedded demo (no RabbitMQ, no Redis) runs to its summary and its numbers add up.</summary>
public sealed partial class DemoCommandTests
{
    [Fact]
    public async Task Demo_RunsEveryUniqueMessageOnce_AndPrintsTheSummaryLast()
    {
        await using var demo = await WorkerProcess.RunAsync(new Dictionary<string, string>(), TimeSpan.FromSeconds(60),
            "demo", "--payments", "600", "--requests", "150", "--seed", "11");

        Assert.True(demo.ExitCode == 0, demo.Output);
        var last = demo.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        var match = Summary().Match(last);
        Assert.True(match.Success, $"The last line is not the summary: '{last}'");
        long N(string name) => long.Parse(match.Groups[name].Value, System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal(750, N("unique"));
        Assert.Equal(N("unique"), N("executed"));
        Assert.Equal(0, N("lost"));
        Assert.Equal(3, N("conflicts"));
        Assert.True(N("skipped") > 0, last);
        Assert.Equal(N("sent"), N("executed") + N("skipped") + N("conflicts"));
        Assert.True(N("replayed") > 0, $"No duplicate request got the stored reply: {last}");
    }

    [Fact]
    public async Task Demo_OutputRedirected_PrintsPlainLines_AndTheSummaryLast()
    {
        await using var demo = await WorkerProcess.RunAsync(new Dictionary<string, string>(), TimeSpan.FromSeconds(60),
            "demo", "--payments", "300", "--requests", "60", "--seed", "12");

        Assert.True(demo.ExitCode == 0, demo.Output);
        var lines = demo.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(lines, line => line.Contains('\u001b', StringComparison.Ordinal)); // no terminal control codes
        Assert.Contains(lines, line => ProgressLine().IsMatch(line));
        Assert.Contains("  what                 count  meaning", lines);
        Assert.Contains(lines, line => line.StartsWith("  executed               360  ", StringComparison.Ordinal));
        Assert.Matches(Summary(), lines[^1]);
    }

    [GeneratedRegex(@"^\[\s*\d+\.\d\ds\] sent \d+/\d+  processed \d+")]
    private static partial Regex ProgressLine();

    [GeneratedRegex(@"^summary: sent=(?<sent>\d+) unique=(?<unique>\d+) executed=(?<executed>\d+) skipped=(?<skipped>\d+) replayed=(?<replayed>\d+) conflicts=(?<conflicts>\d+) lost=(?<lost>\d+)$")]
    private static partial Regex Summary();
}
