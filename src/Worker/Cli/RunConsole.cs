using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Dedup.Worker.Cli;

/// <summary>
/// Where <c>demo</c> and <c>traffic</c> write. On a terminal: Spectre.Console's live progress and result table. When
/// the output is redirected (a file, a pipe, a CI log): plain lines, one per progress tick, that stay readable there.
/// Lines that scripts and tests read (the summary) are written as they are in both cases.
/// </summary>
internal sealed class RunConsole
{
    /// <param name="output">Where plain lines go.</param>
    /// <param name="terminal">The live console writing to the same place, or null for plain lines only.</param>
    public RunConsole(TextWriter output, IAnsiConsole? terminal)
    {
        Output = output;
        Terminal = terminal;
    }

    public TextWriter Output { get; }

    /// <summary>The live console, or null when the output is redirected.</summary>
    public IAnsiConsole? Terminal { get; }

    /// <summary>This process's standard output: live only when it is a terminal that Spectre.Console can drive.</summary>
    public static RunConsole ForStandardOutput() =>
        new(Console.Out, Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive ? null : AnsiConsole.Console);

    /// <summary>On the terminal, sends the run's logs through it (<see cref="TerminalLoggerProvider"/>); otherwise leaves them to the console logger.</summary>
    public void ConfigureLogging(ILoggingBuilder logging)
    {
        if (Terminal is null)
            return;

        logging.ClearProviders();
        logging.AddProvider(new TerminalLoggerProvider(Terminal));
    }

    /// <summary>A line as it is: never wrapped or styled, so it can be copied and parsed.</summary>
    public void WriteLine(string line = "") => Output.WriteLine(line);

    /// <summary>On the terminal, a table of what a run measured: one row per quantity, its count and what it means.</summary>
    public void WriteTable(IEnumerable<ResultRow> rows)
    {
        if (Terminal is null)
            throw new InvalidOperationException("The table is drawn on a terminal only; redirected output gets the plain lines.");

        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("what")
            .AddColumn(new TableColumn("count").RightAligned())
            .AddColumn("meaning");
        foreach (var row in rows)
            table.AddRow(new Text(row.What), new Text(row.Count), new Text(row.Meaning));
        Terminal.Write(table);
    }

    /// <summary>The run's verdict: green or red on the terminal, the plain sentence otherwise.</summary>
    public void WriteVerdict(bool passed, string verdict)
    {
        if (Terminal is null)
            WriteLine(verdict);
        else
            Terminal.MarkupLineInterpolated($"[{(passed ? "green" : "red")}]{verdict}[/]");
    }
}

/// <summary>A row of a run's result table.</summary>
internal sealed record ResultRow(string What, string Count, string Meaning);
