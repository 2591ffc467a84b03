using Dedup.Worker.Settings;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Hosting;

/// <summary>Logs the worker's start (what it listens to) and the phases of a graceful stop.</summary>
internal sealed class WorkerLifetimeLog : IHostedLifecycleService
{
    readonly WorkerConfiguration _configuration;
    readonly ILogger<WorkerLifetimeLog> _logger;

    public WorkerLifetimeLog(WorkerConfiguration configuration, ILogger<WorkerLifetimeLog> logger)
    {
        _configuration = configuration;
        _logger = logger;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var worker = _configuration.Worker;
        WorkerLog.Started(_logger,
            $"{string.Join(", ", WorkerQueues.Names)} ({WorkerQueues.Describe(worker)})",
            _configuration.RabbitMq.Describe(), RedisSettings.Redact(_configuration.Redis.Configuration),
            worker.StopTimeout, worker.ConsumerStopTimeout);
        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        WorkerLog.Stopping(_logger, _configuration.Worker.ConsumerStopTimeout);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        WorkerLog.Stopped(_logger);
        return Task.CompletedTask;
    }
}
