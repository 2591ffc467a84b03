using Dedup.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Dedup.Pipeline;

/// <summary>
/// Logs, once, which endpoints and message types dedup covers and which it does not (event 40): when the bus has
/// started (<c>cfg.UseDedup</c>), or when the endpoint is first ready (<c>e.UseDedup</c> on one endpoint).
/// </summary>
internal sealed class DedupStartupLog : IBusObserver, IReceiveEndpointObserver
{
    readonly DedupCoverage _coverage;
    readonly ILogger _logger;
    int _logged;

    public DedupStartupLog(DedupCoverage coverage, ILogger logger)
    {
        _coverage = coverage;
        _logger = logger;
    }

    public Task PostStart(IBus bus, Task<BusReady> busReady) => Log();

    // Ready fires again after every reconnection.
    public Task Ready(ReceiveEndpointReady ready) => Log();

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task StartFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    public Task PreStop(IBus bus) => Task.CompletedTask;

    public Task PostStop(IBus bus) => Task.CompletedTask;

    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    Task Log()
    {
        if (Interlocked.Exchange(ref _logged, 1) != 0)
            return Task.CompletedTask;

        if (_logger.IsEnabled(LogLevel.Information))
        {
#pragma warning disable CA1873 // guarded just above; the analyzer does not see this guard around a [LoggerMessage] call
            DedupLog.Coverage(_logger, _coverage.Covered(), _coverage.NotCovered());
#pragma warning restore CA1873
        }

        return Task.CompletedTask;
    }
}
