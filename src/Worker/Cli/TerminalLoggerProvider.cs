using Microsoft.Extensions.Logging;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Dedup.Worker.Cli;

/// <summary>
/// Logs through the live terminal while a run's progress is drawn: Spectre.Console prints each line above the bars,
/// where the console logger's own writes to standard output would tear them. One line per entry, as the console
/// logger's single-line form: <c>fail: Dedup.Protocol.ClaimCoordinator[6] Dedup conflict on ...</c>.
/// </summary>
internal sealed class TerminalLoggerProvider(IAnsiConsole terminal) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new TerminalLogger(terminal, categoryName);

    public void Dispose()
    {
    }

    sealed class TerminalLogger(IAnsiConsole terminal, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;

            var (level, color) = logLevel switch
            {
                LogLevel.Trace => ("trce", Color.Grey),
                LogLevel.Debug => ("dbug", Color.Grey),
                LogLevel.Information => ("info", Color.Green),
                LogLevel.Warning => ("warn", Color.Yellow),
                LogLevel.Error => ("fail", Color.Red),
                _ => ("crit", Color.Red),
            };
            var line = $"{level}: {category}[{eventId.Id}] {formatter(state, exception)}";
            if (exception is not null)
                line += Environment.NewLine + exception;
            terminal.Write(new ClearedLines(new Text(line + Environment.NewLine, new Style(color))));
        }
    }

    /// <summary>
    /// Text that first erases the screen below the cursor. Spectre.Console writes a line above live progress by moving
    /// the cursor to the top of the bars and writing over them, without erasing what the line does not cover; a log
    /// line that wraps would leave pieces of the old bars beside it.
    /// </summary>
    sealed class ClearedLines(Text text) : IRenderable
    {
        const string EraseBelow = "\u001b[J";

        public Measurement Measure(RenderOptions options, int maxWidth) => ((IRenderable)text).Measure(options, maxWidth);

        public IEnumerable<Segment> Render(RenderOptions options, int maxWidth) =>
            ((IRenderable)text).Render(options, maxWidth).Prepend(Segment.Control(EraseBelow));
    }
}
