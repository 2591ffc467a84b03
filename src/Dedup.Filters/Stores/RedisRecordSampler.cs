using System.Net;
using Dedup.Operations;
using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>
/// Samples a store's records on every master (the one server, or each master of a Redis Cluster, which holds its
/// share of the hash slots): <c>SCAN</c> pages of keys, never <c>KEYS</c>, until the sample size or the end of the
/// keyspace; then, pipelined, each record's state (<c>HMGET</c>) and size (<c>MEMORY USAGE</c>).
/// </summary>
/// <remarks>
/// SCAN runs without MATCH so the sample says which share of all keys are records: a master's counts are scaled by
/// <c>DBSIZE</c> over the keys scanned when its scan stopped early. SCAN may return a key twice while the keyspace
/// rehashes (<see href="https://redis.io/docs/latest/commands/scan/">SCAN</see>): a sample, not an audit.
/// </remarks>
internal sealed class RedisRecordSampler
{
    const int ScanPage = 1000;
    const int ReadBatch = 500;

    readonly IConnectionMultiplexer _connection;
    readonly int _database;
    readonly string _recordStart;

    public RedisRecordSampler(IConnectionMultiplexer connection, int database, string keyPrefix)
    {
        _connection = connection;
        _database = database;
        _recordStart = keyPrefix + "{";
    }

    public async Task<RecordSample> SampleAsync(int keysPerServer, TimeSpan window, CancellationToken cancellationToken)
    {
        var servers = _connection.GetServers();
        var masters = servers.Where(s => !s.IsReplica).OrderBy(s => Name(s.EndPoint), StringComparer.Ordinal);
        var samples = await Task.WhenAll(masters.Select(m => SampleAsync(m, keysPerServer, window, cancellationToken))).ConfigureAwait(false);
        return new RecordSample(servers.Any(s => s.ServerType == ServerType.Cluster), samples);
    }

    async Task<DedupServerStats> SampleAsync(IServer server, int keysPerServer, TimeSpan window, CancellationToken cancellationToken)
    {
        var name = Name(server.EndPoint);
        try
        {
            var now = new DateTimeOffset(await server.TimeAsync().WaitAsync(cancellationToken).ConfigureAwait(false), TimeSpan.Zero);
            var keys = await server.DatabaseSizeAsync(_database).WaitAsync(cancellationToken).ConfigureAwait(false);
            var tally = new StateTally(now, window);
            var records = new List<RedisKey>();
            long scanned = 0, memory = 0;
            var cursor = "0";
            do
            {
                // COUNT is a hint of the work per call (buckets visited); a small sample asks for less.
                var count = Math.Clamp(keysPerServer - scanned, 1, ScanPage);
                var page = (RedisResult[])(await server.ExecuteAsync(_database, "SCAN", [cursor, "COUNT", count]).WaitAsync(cancellationToken).ConfigureAwait(false))!;
                cursor = (string)page[0]!;
                foreach (var key in (RedisResult[])page[1]!)
                {
                    scanned++;
                    var text = (string)key!;
                    if (text.StartsWith(_recordStart, StringComparison.Ordinal) && text.EndsWith('}'))
                        records.Add(text);
                }

                if (records.Count >= ReadBatch)
                {
                    memory += await ReadAsync(server, records, tally, now, cancellationToken).ConfigureAwait(false);
                    records.Clear();
                }
            }
            while (cursor != "0" && scanned < keysPerServer);

            memory += await ReadAsync(server, records, tally, now, cancellationToken).ConfigureAwait(false);
            return new DedupServerStats(name, keys, scanned, cursor == "0", tally.Counts, memory, tally.ClaimedInWindow);
        }
        catch (Exception exception) when (RedisDedupStore.IsStoreFailure(exception) || exception is TimeoutException)
        {
            return new DedupServerStats(name, 0, 0, false, DedupStateCounts.None, null, 0, exception.Message);
        }
    }

    /// <summary>Reads each record's state and size (all sent at once, so one round trip per batch); returns the bytes.</summary>
    async Task<long> ReadAsync(IServer server, List<RedisKey> records, StateTally tally, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var reads = records.Select(key => (
            Fields: server.ExecuteAsync(_database, "HMGET", [key, "s", "e", "d"]),
            Memory: server.ExecuteAsync(_database, "MEMORY", ["USAGE", key, "SAMPLES", "0"]))).ToArray();
        await Task.WhenAll(reads.SelectMany(r => new[] { r.Fields, r.Memory })).WaitAsync(cancellationToken).ConfigureAwait(false);

        var nowMs = now.ToUnixTimeMilliseconds();
        long memory = 0;
        foreach (var (fields, size) in reads)
        {
            var values = (RedisResult[])(await fields.ConfigureAwait(false))!;
            var state = RedisScripts.StateOf((string?)values[0]);
            if (state == DedupRecordState.Absent)
                continue; // expired since the scan

            var leaseExpired = state == DedupRecordState.InProgress && RedisDedupStore.Number(values[2]) <= nowMs;
            tally.Add(state, leaseExpired, RedisDedupStore.Number(values[1]));
            var bytes = await size.ConfigureAwait(false);
            memory += bytes.IsNull ? 0 : (long)bytes;
        }

        return memory;
    }

    static string Name(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "?",
    };
}
