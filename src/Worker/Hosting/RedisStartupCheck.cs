using System.Diagnostics;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Dedup.Worker.Hosting;

/// <summary>
/// The start-up check of one Redis (the dedup store's, or the ledger's when separate): it answers PING; on a Redis
/// Cluster the cluster is logged and every master must answer; for the dedup store, every master's eviction policy and
/// persistence are read and warned about.
/// </summary>
internal sealed class RedisStartupCheck
{
    readonly RedisSettings _settings;
    readonly ILogger _logger;

    public RedisStartupCheck(RedisSettings settings, ILogger logger)
    {
        _settings = settings;
        _logger = logger;
    }

    /// <summary>Connects a short-lived probe to <paramref name="configuration"/> and checks it.</summary>
    /// <param name="role">"dedup store" or "ledger", for messages.</param>
    /// <param name="setting">The setting that names this Redis, for messages.</param>
    /// <param name="configuration">The StackExchange.Redis configuration string.</param>
    /// <param name="inspect">Also read <c>CONFIG</c> (eviction policy, persistence) on every master.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <exception cref="StartupCheckException">Redis, or a master of the cluster, did not answer in time.</exception>
    public async Task<RedisTopology> CheckAsync(string role, string setting, string configuration, bool inspect, CancellationToken cancellationToken)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = (int)_settings.ConnectTimeout.TotalMilliseconds;
        options.ConnectRetry = 1;
        options.ClientName = "dedup-worker start-up check";
        options.AllowAdmin = inspect; // CONFIG GET, to warn about eviction and persistence
        var shown = RedisSettings.Redact(configuration);
        try
        {
            await using var probe = await ConnectionMultiplexer.ConnectAsync(options);
            var started = Stopwatch.GetTimestamp();
            await probe.GetDatabase().PingAsync().WaitAsync(_settings.ConnectTimeout, cancellationToken);
            WorkerLog.RedisReachable(_logger, role, shown, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);

            var topology = RedisTopology.Of(probe);
            if (topology.IsCluster)
                await CheckMastersAsync(probe, topology, role, setting, cancellationToken);
            if (inspect)
                await InspectAsync(probe, topology, role);
            return topology;
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException)
        {
            throw new StartupCheckException(
                $"Redis ({role}) at '{shown}' is unreachable or refused the connection within {_settings.ConnectTimeout.TotalSeconds:0.#} s. Check {setting} (host:port, password=, ssl=) and that the server runs. ({exception.Message})",
                exception);
        }
    }

    // A silent master fails the claims of every key in its slots: start only when each answers, like a single server.
    async Task CheckMastersAsync(ConnectionMultiplexer probe, RedisTopology topology, string role, string setting, CancellationToken cancellationToken)
    {
        var silent = (await topology.PingMastersAsync(probe, _settings.ConnectTimeout, cancellationToken)).Where(a => a.Failure is not null).ToArray();
        if (silent.Length > 0)
        {
            throw new StartupCheckException(
                $"Redis ({role}) is a cluster of {topology.Masters.Count} masters, and {string.Join(", ", silent.Select(a => a.ToString()))} did not answer PING within {_settings.ConnectTimeout.TotalSeconds:0.#} s: claims of the keys in its hash slots would all fail. Check that every master runs (CLUSTER NODES), that the addresses the nodes announce are reachable from the worker (cluster-announce-ip), and {setting}.");
        }

        WorkerLog.RedisCluster(_logger, role, topology.Masters.Count, topology.MasterList, topology.Replicas);
    }

    async Task InspectAsync(ConnectionMultiplexer probe, RedisTopology topology, string role)
    {
        var masters = await Task.WhenAll(topology.Masters.Select(m => ReadSettingsAsync(probe.GetServer(m))));
        foreach (var unreadable in masters.Where(m => m.Unreadable is not null).GroupBy(m => m.Unreadable!))
            WorkerLog.RedisConfigUnreadable(_logger, role, List(unreadable), unreadable.Key);
        foreach (var evicting in masters.Where(m => m.EvictionPolicy is not null && !string.Equals(m.EvictionPolicy, "noeviction", StringComparison.OrdinalIgnoreCase)).GroupBy(m => m.EvictionPolicy!))
            WorkerLog.RedisEvictionPolicy(_logger, role, List(evicting), evicting.Key);
        var forgetful = masters.Where(m => m.NoPersistence).ToArray();
        if (forgetful.Length > 0)
            WorkerLog.RedisNoPersistence(_logger, role, List(forgetful));

        static string List(IEnumerable<MasterSettings> masters) => string.Join(", ", masters.Select(m => RedisTopology.Format(m.Master)));
    }

    static async Task<MasterSettings> ReadSettingsAsync(IServer server)
    {
        try
        {
            var config = (await server.ConfigGetAsync("*")).ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
            var noPersistence = config.TryGetValue("appendonly", out var aof) && string.Equals(aof, "no", StringComparison.OrdinalIgnoreCase)
                && config.TryGetValue("save", out var save) && string.IsNullOrWhiteSpace(save);
            return new MasterSettings(server.EndPoint, config.GetValueOrDefault("maxmemory-policy"), noPersistence, null);
        }
        catch (Exception exception) when (exception is RedisException or RedisCommandException)
        {
            // Managed Redis services often disable CONFIG.
            return new MasterSettings(server.EndPoint, null, false, exception.Message);
        }
    }

    sealed record MasterSettings(System.Net.EndPoint Master, string? EvictionPolicy, bool NoPersistence, string? Unreadable);
}
