using System.Diagnostics;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Dedup.Worker.Hosting;

/// <summary>
/// Runs before the bus starts: Redis answers PING, RabbitMQ accepts the credentials and virtual host. A failure stops
/// the start with a <see cref="StartupCheckException"/> naming what to check; the worker never runs without them.
/// It also warns when the dedup Redis can evict keys or forgets them on restart.
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
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = (int)_configuration.Redis.ConnectTimeout.TotalMilliseconds;
        options.ConnectRetry = 1;
        options.ClientName = "dedup-worker start-up check";
        options.AllowAdmin = inspect; // CONFIG GET, to warn about eviction and persistence
        var shown = RedisSettings.Redact(configuration);
        try
        {
            await using var probe = await ConnectionMultiplexer.ConnectAsync(options);
            var started = Stopwatch.GetTimestamp();
            await probe.GetDatabase().PingAsync().WaitAsync(_configuration.Redis.ConnectTimeout, cancellationToken);
            WorkerLog.RedisReachable(_logger, role, shown, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (inspect)
                await InspectAsync(probe, role);
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException)
        {
            throw new StartupCheckException(
                $"Redis ({role}) at '{shown}' is unreachable or refused the connection within {_configuration.Redis.ConnectTimeout.TotalSeconds:0.#} s. Check {setting} (host:port, password=, ssl=) and that the server runs. ({exception.Message})",
                exception);
        }

        // Open the long-lived connection now, so the first message does not pay for it.
        _ = role == "ledger" ? _redis.Ledger : _redis.Dedup;
    }

    async Task InspectAsync(ConnectionMultiplexer connection, string role)
    {
        try
        {
            var server = connection.GetServer(connection.GetEndPoints()[0]);
            var config = (await server.ConfigGetAsync("*"))
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
            if (config.TryGetValue("maxmemory-policy", out var policy) && !string.Equals(policy, "noeviction", StringComparison.OrdinalIgnoreCase))
                WorkerLog.RedisEvictionPolicy(_logger, role, policy);
            if (config.TryGetValue("appendonly", out var aof) && string.Equals(aof, "no", StringComparison.OrdinalIgnoreCase)
                && config.TryGetValue("save", out var save) && string.IsNullOrWhiteSpace(save))
                WorkerLog.RedisNoPersistence(_logger, role);
        }
        catch (Exception exception) when (exception is RedisException or RedisCommandException)
        {
            // Managed Redis services often disable CONFIG.
            WorkerLog.RedisConfigUnreadable(_logger, role, exception.Message);
        }
    }
}
