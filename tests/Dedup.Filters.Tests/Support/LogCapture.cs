using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dedup.Filters.Tests;

/// <summary>A logger provider that keeps every entry (event id, level, formatted text) for a test to read.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<(EventId EventId, LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture.Entries.Enqueue((eventId, logLevel, formatter(state, exception)));
    }
}
