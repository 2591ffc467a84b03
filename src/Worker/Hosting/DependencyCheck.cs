using Dedup.Worker.Settings;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Hosting;

/// <summary>
/// Runs before the bus starts: Redis answers PING (on a Redis Cluster, every master: <see cref="RedisStartupCheck"/>),
/// RabbitMQ accepts the credentials and virtual host, and the queues that exist agree with the worker's
/// (<see cref="QueueArgumentsCheck"/>). A failure stops the start with a <see cref="StartupCheckException"/>
/// naming what to check; the worker never runs without them. It also warns when the dedup Redis (any master of it) can
/// evict keys or forgets them on restart.
/// </summary>
internal sealed class DependencyCheck : IHostedService
{
    readonly WorkerConfiguration _configuration;
    readonly RedisConnections _redis;
    readonly ILogger<DependencyCheck> _logger;

    public DependencyCheck(WorkerConfiguration configuration, RedisConnections redis, ILogger<DependencyCheck> logger)
    {
        _configuration = configuration;
        _redis = redis;
        _logger = logger;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await CheckRedisAsync("dedup store", "Redis:Configuration", _redis.DedupConfiguration, inspect: true, cancellationToken);
            if (_redis.SeparateLedger)
                await CheckRedisAsync("ledger", "Ledger:Redis", _redis.LedgerConfiguration, inspect: false, cancellationToken);

            var rabbitMq = _configuration.RabbitMq;
            await using var connection = await RabbitMqClient.ConnectAsync(rabbitMq, "dedup-worker start-up check", cancellationToken);
            var version = connection.ServerProperties?.TryGetValue("version", out var v) == true && v is byte[] bytes
                ? System.Text.Encoding.UTF8.GetString(bytes)
                : "unknown";
            WorkerLog.RabbitMqReachable(_logger, rabbitMq.Describe(), version);
            await QueueArgumentsCheck.CheckAsync(connection, rabbitMq, _configuration.Worker, cancellationToken);
        }
        catch (StartupCheckException exception)
        {
            WorkerLog.StartupCheckFailed(_logger, exception.Message);
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    async Task CheckRedisAsync(string role, string setting, string configuration, bool inspect, CancellationToken cancellationToken)
    {
        await new RedisStartupCheck(_configuration.Redis, _logger).CheckAsync(role, setting, configuration, inspect, cancellationToken);

        // Open the long-lived connection now, so the first message does not pay for it.
        _ = role == "ledger" ? _redis.Ledger : _redis.Dedup;
    }
}
