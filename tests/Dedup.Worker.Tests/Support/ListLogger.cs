using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Tests.Support;

/// <summary>A logger that keeps what a component running inside the test logged, by event id.</summary>
internal sealed class ListLogger : ILogger
{
    readonly ConcurrentQueue<(int EventId, string Message)> _entries = new();

    /// <summary>The formatted messages logged with <paramref name="eventId"/>, oldest first.</summary>
    public string[] Messages(int eventId) => [.. _entries.Where(e => e.EventId == eventId).Select(e => e.Message)];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue((eventId.Id, formatter(state, exception)));
}
