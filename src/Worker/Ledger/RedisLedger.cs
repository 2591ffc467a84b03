using System.Text.Json;
using StackExchange.Redis;

namespace Dedup.Worker.Ledger;

/// <summary>
/// The ledger in Redis, under <c>Ledger:KeyPrefix</c> (default <c>ledger:</c>):
/// <list type="table">
/// <item><term><c>ledger:payments</c></term><description>hash: payment id → executions (<c>HGET ledger:payments &lt;paymentId&gt;</c>)</description></item>
/// <item><term><c>ledger:entries</c></term><description>list of JSON entries, newest last, capped at <c>Ledger:MaxEntries</c></description></item>
/// <item><term><c>ledger:quotes</c></term><description>hash: quote id → executions</description></item>
/// <item><term><c>ledger:fences</c></term><description>hash: dedup key → highest epoch that wrote</description></item>
/// </list>
/// Each write is one script: it checks the fence, then counts and appends, atomically.
/// </summary>
internal sealed class RedisLedger : ILedger
{
    // KEYS: fences, counts, entries (may be the counts key again for quotes). ARGV: dedup key, epoch, id, entry, max entries.
    // An epoch lower than the stored one is a stale owner (taken over): rejected with the stored epoch.
    const string WriteScript = """
        if ARGV[1] ~= '' then
          local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
          if tonumber(ARGV[2]) < stored then return -stored end
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        end
        local n = redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
        if ARGV[4] ~= '' then
          redis.call('RPUSH', KEYS[3], ARGV[4])
          redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
        end
        return n
        """;

    readonly IDatabase _db;
    readonly RedisKey _fences;
    readonly RedisKey _payments;
    readonly RedisKey _entries;
    readonly RedisKey _quotes;
    readonly int _maxEntries;
    readonly string _worker = $"{Environment.MachineName}/{Environment.ProcessId}";

    public RedisLedger(IConnectionMultiplexer connection, string keyPrefix, int maxEntries)
    {
        _db = connection.GetDatabase();
        _fences = keyPrefix + "fences";
        _payments = keyPrefix + "payments";
        _entries = keyPrefix + "entries";
        _quotes = keyPrefix + "quotes";
        _maxEntries = maxEntries;
    }

    public Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(new
        {
            paymentId = entry.PaymentId,
            amount = entry.Amount,
            currency = entry.Currency,
            source = entry.Source,
            messageId = entry.MessageId,
            dedupKey = entry.Fence.Key,
            epoch = entry.Fence.Epoch,
            worker = _worker,
            at = DateTimeOffset.UtcNow,
        });
        return WriteAsync(_payments, _entries, entry.PaymentId, json, entry.Fence);
    }

    public Task RecordQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken) =>
        WriteAsync(_quotes, _quotes, quoteId, string.Empty, fence);

    public Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken) =>
        CountsAsync(_payments, paymentIds);

    public Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken) =>
        CountsAsync(_quotes, quoteIds);

    async Task WriteAsync(RedisKey counts, RedisKey entries, string id, string entry, Fence fence)
    {
        var result = (long)await _db.ScriptEvaluateAsync(WriteScript,
            [_fences, counts, entries],
            [fence.Key ?? string.Empty, fence.Epoch, id, entry, _maxEntries]);
        if (result < 0)
            throw new StaleEpochException(fence.Key!, fence.Epoch, -result);
    }

    async Task<IReadOnlyList<long>> CountsAsync(RedisKey hash, IReadOnlyList<string> ids)
    {
        var counts = new long[ids.Count];
        const int batch = 1000;
        for (var start = 0; start < ids.Count; start += batch)
        {
            var fields = ids.Skip(start).Take(batch).Select(id => (RedisValue)id).ToArray();
            var values = await _db.HashGetAsync(hash, fields);
            for (var i = 0; i < values.Length; i++)
                counts[start + i] = values[i].IsNull ? 0 : (long)values[i];
        }

        return counts;
    }
}
