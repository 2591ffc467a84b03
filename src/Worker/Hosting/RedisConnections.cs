using Dedup.Worker.Settings;
using StackExchange.Redis;

namespace Dedup.Worker.Hosting;

/// <summary>
/// The worker's Redis connections: one for the dedup store and, when <c>Ledger:Redis</c> names another server, one
/// for the ledger. Connected lazily without aborting, so after a successful start an outage is ridden out (claims
/// fail closed, messages are redelivered); <see cref="DependencyCheck"/> makes the start itself fail fast.
/// A Redis Cluster needs no other setting: a configuration that names one or more of its nodes reaches all of them
/// (StackExchange.Redis reads the node table, sends each key to the master of its hash slot and follows failovers);
/// <see cref="RedisTopology"/> tells the checks which masters there are.
/// </summary>
internal sealed class RedisConnections : IAsyncDisposable
{
    readonly Lazy<ConnectionMultiplexer> _dedup;
    readonly Lazy<ConnectionMultiplexer>? _ledger;

    public RedisConnections(RedisSettings redis, LedgerSettings ledger)
    {
        DedupConfiguration = redis.Configuration;
        LedgerConfiguration = string.IsNullOrWhiteSpace(ledger.Redis) ? redis.Configuration : ledger.Redis;
        _dedup = new(() => Connect(DedupConfiguration));
        if (!string.Equals(LedgerConfiguration, DedupConfiguration, StringComparison.Ordinal))
            _ledger = new(() => Connect(LedgerConfiguration));
    }

    public string DedupConfiguration { get; }

    public string LedgerConfiguration { get; }

    public IConnectionMultiplexer Dedup => _dedup.Value;

    public IConnectionMultiplexer Ledger => (_ledger ?? _dedup).Value;

    public bool SeparateLedger => _ledger is not null;

    public async ValueTask DisposeAsync()
    {
        if (_dedup.IsValueCreated)
            await _dedup.Value.DisposeAsync();
        if (_ledger is { IsValueCreated: true })
            await _ledger.Value.DisposeAsync();
    }

    /// <summary>
    /// How often a connection reads each node's role again (<c>INFO replication</c>, one per node and interval) unless
    /// the configuration sets <c>configCheckSeconds</c>. StackExchange.Redis reads it at connect, on a reconnect, and then
    /// only every 60 s by default: after a failover without Sentinel (the primary died, an operator or a script promoted
    /// a replica named in the configuration) its writes found no primary, or the returning old primary, which refuses
    /// them as a replica, for up to a minute, and every claim failed closed meanwhile (measured: 35 s). Sentinel
    /// (<c>serviceName=</c>) and Redis Cluster announce their failovers to the connection themselves.
    /// </summary>
    internal const int ConfigCheckSeconds = 1;

    static ConnectionMultiplexer Connect(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.ClientName ??= "dedup-worker";
        if (!configuration.Split(',').Any(part => part.TrimStart().StartsWith("configCheckSeconds=", StringComparison.OrdinalIgnoreCase)))
            options.ConfigCheckSeconds = ConfigCheckSeconds;
        return ConnectionMultiplexer.Connect(options);
    }
}
