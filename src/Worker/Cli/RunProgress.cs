using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Dedup.Worker.Cli;

/// <summary>A quantity whose progress a run shows: <c>sent 1200/3130</c>.</summary>
internal sealed record Gauge(string Name, Func<long> Value, long Total);

/// <summary>
/// The progress of a run until disposed: on a terminal, a live bar per <see cref="Gauge"/> with the status line under
/// them; on redirected output, the status line every <c>interval</c> (<c>[  1.25s] sent ...</c>), and at once for
/// each <see cref="Report"/> with its note.
/// </summary>
internal sealed class RunProgress : IAsyncDisposable
{
    static readonly TimeSpan LiveRefresh = TimeSpan.FromMilliseconds(200);

    readonly RunConsole _console;
    readonly Func<string> _status;
    readonly long _started = Stopwatch.GetTimestamp();
    readonly Lock _gate = new();
    readonly Timer? _timer;
    readonly Task? _live;
    readonly CancellationTokenSource _stop = new();
    volatile string? _note;
    bool _disposed;

    RunProgress(RunConsole console, TimeSpan interval, Func<string> status, IReadOnlyList<Gauge> gauges)
    {
        _console = console;
        _status = status;
        if (console.Terminal is { } terminal)
            _live = ShowLiveAsync(terminal, gauges);
        else
            _timer = new Timer(_ => Print(), null, interval, interval);
    }

    /// <param name="console">Where to show it.</param>
    /// <param name="interval">How often a plain line is printed.</param>
    /// <param name="status">The status line: counts that have no total, or all of them.</param>
    /// <param name="gauges">The quantities shown as bars on a terminal.</param>
    public static RunProgress Start(RunConsole console, TimeSpan interval, Func<string> status, params Gauge[] gauges) =>
        new(console, interval, status, gauges);

    /// <summary>Adds a note to the status line (what the run is doing now); on redirected output, prints the line at once.</summary>
    public void Report(string note)
    {
        _note = note;
        if (_console.Terminal is null)
            Print();
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
            _disposed = true;
        if (_timer is not null)
            await _timer.DisposeAsync();
        await _stop.CancelAsync();
        if (_live is not null)
            await _live;
        _stop.Dispose();
    }

    string Status() => _status() + (_note is { } note ? "  -- " + note : string.Empty);

    void Print()
    {
        lock (_gate)
        {
            if (!_disposed)
                _console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{Stopwatch.GetElapsedTime(_started).TotalSeconds,6:0.00}s] {Status()}"));
        }
    }

    Task ShowLiveAsync(IAnsiConsole terminal, IReadOnlyList<Gauge> gauges) => terminal.Progress()
        .AutoClear(false)
        .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
        .UseRenderHook((bars, _) => new Rows(bars, new Text(Status())))
        .StartAsync(async context =>
        {
            var bars = gauges.Select(g => (Gauge: g, Task: context.AddTask(g.Name, maxValue: Math.Max(1, g.Total)))).ToList();
            while (true)
            {
                foreach (var (gauge, task) in bars)
                {
                    var value = gauge.Value();
                    task.Value = Math.Min(value, task.MaxValue);
                    task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"{gauge.Name} {value}/{gauge.Total}"));
                }

                context.Refresh();
                if (_stop.IsCancellationRequested)
                    break;
                await Task.Delay(LiveRefresh, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            foreach (var (_, task) in bars)
                task.StopTask();
        });
}
