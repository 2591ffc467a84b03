using System.Globalization;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// What the benchmark reads off its Redis server, through one admin connection of its own (no redis-cli process per
/// reading): <c>INFO cpu</c> (used_cpu_user + used_cpu_sys), <c>INFO commandstats</c> (calls and usec per command) and
/// <c>INFO memory</c> (used_memory).
/// </summary>
public sealed partial class RedisGauges : IAsyncDisposable
{
    // Commands the benchmark itself or the client's housekeeping sends; they are not the cost of a message.
    static readonly HashSet<string> Housekeeping =
        ["info", "flushall", "ping", "echo", "hello", "client|setname", "client|setinfo", "client|id", "config|get",
         "cluster|nodes", "subscribe", "unsubscribe", "select", "script|load", "config|resetstat", "memory|usage"];

    readonly ConnectionMultiplexer _connection;
    readonly IServer _server;

    RedisGauges(ConnectionMultiplexer connection)
    {
        _connection = connection;
        _server = connection.GetServers()[0];
    }

    public static async Task<RedisGauges> ConnectAsync(string connectionString) =>
        new(await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true"));

    /// <summary>Empties the server (synchronous FLUSHALL, so its memory is back before the next reading).</summary>
    public Task FlushAllAsync() => _server.FlushAllDatabasesAsync();

    /// <summary>The server's CPU time so far (user + system, all its threads) and its command statistics.</summary>
    public async Task<RedisReading> ReadAsync()
    {
        var text = (string)(await _server.ExecuteAsync("INFO", "cpu", "commandstats"))!;
        var cpu = Field(text, "used_cpu_user") + Field(text, "used_cpu_sys");
        var commands = CommandStat().Matches(text).ToDictionary(
            m => m.Groups[1].Value,
            m => new CommandCount(
                long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        return new RedisReading(cpu, commands);
    }

    public async Task<long> UsedMemoryAsync() =>
        (long)Field((string)(await _server.ExecuteAsync("INFO", "memory"))!, "used_memory");

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    /// <summary>Commands between two readings, leaving out <see cref="Housekeeping"/>.</summary>
    public static long MessageCommands(RedisReading before, RedisReading after) =>
        after.Commands.Where(c => !Housekeeping.Contains(c.Key)).Sum(c => c.Value.Calls - before.CallsOf(c.Key));

    static double Field(string info, string name)
    {
        var match = Regex.Match(info, "^" + name + @":([0-9.]+)\r?$", RegexOptions.Multiline);
        if (!match.Success)
            throw new InvalidOperationException($"Redis INFO has no '{name}' field; the benchmark reads Redis 7's INFO layout. INFO said: {info[..Math.Min(200, info.Length)]}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^cmdstat_([a-z|_\-]+):calls=(\d+),usec=(\d+)", RegexOptions.Multiline)]
    private static partial Regex CommandStat();
}

/// <summary>One reading of a command's statistics: calls and total microseconds spent in it on the server.</summary>
public readonly record struct CommandCount(long Calls, long Usec);

/// <summary>One reading of the server: its CPU seconds so far and its per-command statistics.</summary>
public sealed record RedisReading(double CpuSeconds, IReadOnlyDictionary<string, CommandCount> Commands)
{
    public long CallsOf(string command) => Commands.GetValueOrDefault(command).Calls;

    public long UsecOf(string command) => Commands.GetValueOrDefault(command).Usec;
}
