using Dedup.Worker.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Dedup.Worker.Health;

/// <summary>
/// The dedup Redis (and the ledger's, when separate) answers PING: on a Redis Cluster, every master that serves hash
/// slots does, since each holds the records of its share of the keys.
/// </summary>
internal sealed class RedisHealthCheck : IHealthCheck
{
    static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    readonly RedisConnections _redis;
    readonly TimeSpan _timeout;

    public RedisHealthCheck(RedisConnections redis)
        : this(redis, DefaultTimeout)
    {
    }

    /// <param name="redis">The worker's connections.</param>
    /// <param name="timeout">How long each master may take to answer.</param>
    internal RedisHealthCheck(RedisConnections redis, TimeSpan timeout)
    {
        _redis = redis;
        _timeout = timeout;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>();
        var silent = new List<string>();
        var cluster = await CheckAsync("dedup", _redis.Dedup, data, silent, cancellationToken);
        if (_redis.SeparateLedger)
            cluster |= await CheckAsync("ledger", _redis.Ledger, data, silent, cancellationToken);

        return silent.Count == 0
            ? HealthCheckResult.Healthy(cluster ? "Redis answers PING on every master." : "Redis answers PING.", data)
            : HealthCheckResult.Unhealthy(
                $"Redis does not answer ({string.Join("; ", silent)}): dedup claims fail closed (on a cluster, those of the keys that master serves) and messages are redelivered until it is back.",
                data: data);
    }

    /// <summary>PINGs every master of one connection; returns true for a cluster.</summary>
    async Task<bool> CheckAsync(string role, StackExchange.Redis.IConnectionMultiplexer connection, Dictionary<string, object> data, List<string> silent, CancellationToken cancellationToken)
    {
        var topology = RedisTopology.Of(connection);
        var answers = await topology.PingMastersAsync(connection, _timeout, cancellationToken);
        if (answers.Length == 0)
            silent.Add($"{role}: no master known");
        silent.AddRange(answers.Where(a => a.Failure is not null).Select(a => $"{role} at {a}"));

        // The slowest master: every message pays the round trip of its own key's master.
        data[role + "PingMs"] = answers.Select(a => a.RoundTrip?.TotalMilliseconds ?? 0).DefaultIfEmpty().Max();
        if (topology.IsCluster)
            data[role + "Masters"] = topology.Masters.Count;
        return topology.IsCluster;
    }
}
