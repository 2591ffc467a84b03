using System.Globalization;
using System.Text.RegularExpressions;
using Dedup.Diagnostics;
using Dedup.Stores;
using Dedup.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>Tests that share one real redis-server (started by the fixture; Testcontainers when Docker answers).</summary>
[Trait("Needs", "Redis")]
[CollectionDefinition("redis")]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
}

internal static class RedisTestConnections
{
    public static ConnectionMultiplexer Connect(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 2000;
        options.AsyncTimeout = 2000;
        options.AllowAdmin = true;
        return ConnectionMultiplexer.Connect(options);
    }

    public static RedisDedupStore Store(IConnectionMultiplexer connection, string prefix = "dedup:") =>
        new(connection, ownsConnection: false, prefix, new DedupMetrics(), NullLogger.Instance);

    /// <summary>Script calls (EVALSHA and EVAL) the server has answered so far, from <c>INFO commandstats</c>.</summary>
    public static async Task<long> ScriptCallsAsync(RedisServer server)
    {
        var stats = await server.CliAsync("INFO", "commandstats");
        return Calls(stats, "evalsha") + Calls(stats, "eval");

        static long Calls(string stats, string command)
        {
            var match = Regex.Match(stats, "cmdstat_" + command + @":calls=(\d+)");
            return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        }
    }
}
