namespace Dedup.Worker.Demo;

/// <summary>Prints a progress line every <see cref="Interval"/> until disposed.</summary>
internal sealed class DemoProgress : IDisposable
{
    readonly Timer _timer;
    readonly Func<string> _line;
    readonly DateTime _started = DateTime.UtcNow;
    readonly Lock _gate = new();
    bool _disposed;

    public DemoProgress(Func<string> line)
    {
        _line = line;
        _timer = new Timer(_ => Report(null), null, Interval, Interval);
    }

    /// <summary>How often a line is printed.</summary>
    public static TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Prints a progress line now, with an optional note.</summary>
    public void Report(string? note)
    {
        lock (_gate)
        {
            if (!_disposed)
                Console.WriteLine($"[{(DateTime.UtcNow - _started).TotalSeconds,5:0.00}s] {_line()}{(note is null ? string.Empty : "  -- " + note)}");
        }
    }

    public void Dispose()
    {
        lock (_gate)
            _disposed = true;
        _timer.Dispose();
    }
}
