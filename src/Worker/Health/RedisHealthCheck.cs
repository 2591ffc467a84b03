using Dedup.Worker.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Dedup.Worker.Health;

/// <summary>The dedup Redis (and the ledger's, when separate) answers PING.</summary>
internal sealed class RedisHealthCheck : IHealthCheck
{
    readonly RedisConnections _redis;

    public RedisHealthCheck(RedisConnections redis) => _redis = redis;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var dedup = await _redis.Dedup.GetDatabase().PingAsync();
            var data = new Dictionary<string, object> { ["dedupPingMs"] = dedup.TotalMilliseconds };
            if (_redis.SeparateLedger)
                data["ledgerPingMs"] = (await _redis.Ledger.GetDatabase().PingAsync()).TotalMilliseconds;
            return HealthCheckResult.Healthy("Redis answers PING.", data);
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer: dedup claims fail closed and messages are redelivered until it is back.", exception);
        }
    }
}
