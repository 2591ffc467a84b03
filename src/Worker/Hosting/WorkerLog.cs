using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Hosting;

/// <summary>The worker's log messages, with fixed event ids (1000 and up; the library uses 1 to 999).</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Redis {Role} at {Configuration} answered PING in {ElapsedMs} ms")]
    public static partial void RedisReachable(ILogger logger, string role, string configuration, long elapsedMs);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Redis {Role} at {Servers}: maxmemory-policy is {Policy}; dedup records can be evicted under memory pressure and the evicted messages then run again. Set maxmemory-policy noeviction on a dedicated instance (on a cluster, on every master)")]
    public static partial void RedisEvictionPolicy(ILogger logger, string role, string servers, string policy);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Redis {Role} at {Servers}: no persistence (appendonly no, save \"\"); a restart forgets every dedup record and duplicates then run again. Enable appendonly yes with appendfsync everysec (on a cluster, on every master and replica)")]
    public static partial void RedisNoPersistence(ILogger logger, string role, string servers);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Redis {Role} at {Servers}: could not read its configuration ({Reason}); not checking maxmemory-policy and persistence")]
    public static partial void RedisConfigUnreadable(ILogger logger, string role, string servers, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "RabbitMQ at {Broker} accepted the connection (server {ServerVersion})")]
    public static partial void RabbitMqReachable(ILogger logger, string broker, string serverVersion);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Critical, Message = "Start-up check failed: {Reason}")]
    public static partial void StartupCheckFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Health {Status} (was {Previous}): {Details}")]
    public static partial void HealthChanged(ILogger logger, HealthStatus status, HealthStatus? previous, string details);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Health endpoint listening on http://{Address}:{Port}: GET /health, GET /metrics")]
    public static partial void HealthListening(ILogger logger, string address, int port);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "Worker started: queues {Queues} on {Broker}, dedup store Redis {Redis}, stop timeout {StopTimeout} (consumers {ConsumerStopTimeout})")]
    public static partial void Started(ILogger logger, string queues, string broker, string redis, TimeSpan stopTimeout, TimeSpan consumerStopTimeout);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information, Message = "Stopping: no new messages are taken; running consumers get {ConsumerStopTimeout} to finish, then are cancelled and their claims released")]
    public static partial void Stopping(ILogger logger, TimeSpan consumerStopTimeout);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Redis {Role} is a cluster of {MasterCount} masters ({Masters}) and {Replicas} replicas; every master answered PING. Each key lives on the master of its hash slot, so each master is checked")]
    public static partial void RedisCluster(ILogger logger, string role, int masterCount, string masters, int replicas);
}
