using System.Text.RegularExpressions;
using Dedup.Worker.Cli;
using Dedup.Worker.Demo;
using Spectre.Console;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// What <c>demo</c> and <c>traffic</c> show: Spectre.Console's live progress and table on a terminal, plain lines on
/// redirected output, and in both the summary line last and as it is (scripts and tests parse it).
/// </summary>
public sealed partial class RunConsoleTests
{
    static readonly DemoReport Report = new(
        Sent: 969, Unique: 750, Executed: 750, Skipped: 216, Waited: 159, Replayed: 46, Conflicts: 3, Lost: 0, RanOnce: 750,
        RanTwiceOrMore: 0, NeverRan: 0, Unanswered: 0, Requests: 150, Settled: 969, Planned: 969, ConflictingCopies: 3,
        DuplicateRequests: 46, Elapsed: TimeSpan.FromSeconds(0.6), Finished: true);

    [Fact]
    public void DemoReport_OnATerminal_DrawsATable_AndTheSummaryIsTheLastLineAsItIs()
    {
        var (console, output) = Terminal();

        Report.Write(console);

        var lines = Lines(output);
        Assert.Contains(lines, line => line.Contains("│ executed  │", StringComparison.Ordinal) && line.Contains("750", StringComparison.Ordinal));
        Assert.Equal("summary: sent=969 unique=750 executed=750 skipped=216 replayed=46 conflicts=3 lost=0", lines[^1]);
    }

    [Fact]
    public void DemoReport_Redirected_WritesPlainLines_AndTheSummaryLast()
    {
        var output = new StringWriter();

        Report.Write(new RunConsole(output, terminal: null));

        var lines = Lines(output);
        Assert.DoesNotContain(lines, line => line.Contains('\u001b', StringComparison.Ordinal) || line.Contains('│', StringComparison.Ordinal));
        Assert.Contains("  executed               750  consumer executions, counted in the ledger", lines);
        Assert.Equal("OK: every unique message ran exactly once; every duplicate was skipped; nothing was lost.", lines[^2]);
        Assert.Equal("summary: sent=969 unique=750 executed=750 skipped=216 replayed=46 conflicts=3 lost=0", lines[^1]);
    }

    [Fact]
    public async Task Progress_OnATerminal_DrawsEachGauge_AndTheStatusWithTheLastNote()
    {
        var (console, output) = Terminal();

        var progress = RunProgress.Start(console, TimeSpan.FromHours(1), () => "executed 4", new Gauge("sent", () => 7, 10));
        progress.Report("done");
        await progress.DisposeAsync();

        var text = Escapes().Replace(output.ToString(), string.Empty);
        Assert.Contains("sent 7/10", text, StringComparison.Ordinal);
        Assert.Contains("executed 4  -- done", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Progress_Redirected_PrintsAPlainLineForEachNote()
    {
        var output = new StringWriter();

        var progress = RunProgress.Start(new RunConsole(output, terminal: null), TimeSpan.FromHours(1), () => "sent 7/10", new Gauge("sent", () => 7, 10));
        progress.Report("all sent");
        await progress.DisposeAsync();

        Assert.Matches(@"^\[\s*\d+\.\d\ds\] sent 7/10  -- all sent$", Assert.Single(Lines(output)));
    }

    /// <summary>A console as a terminal shows it (ANSI, interactive), writing into a string.</summary>
    static (RunConsole Console, StringWriter Output) Terminal()
    {
        var output = new StringWriter();
        var terminal = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
        terminal.Profile.Width = 160;
        return (new RunConsole(output, terminal), output);
    }

    static string[] Lines(StringWriter output) => output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    [GeneratedRegex(@"\u001b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex Escapes();
}
