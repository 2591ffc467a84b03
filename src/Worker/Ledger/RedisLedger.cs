using System.Text.Json;
using Dedup.Worker.Contracts;
using Dedup.Worker.Settings;
using StackExchange.Redis;

namespace Dedup.Worker.Ledger;

/// <summary>
/// The ledger in Redis, Redis-Cluster-safe and bounded (issues 10 and 11): keys per payment and per quote under one hash
/// tag each (<see cref="LedgerKeys"/>), so each write and each takeover check is one single-slot script
/// (<see cref="LedgerScripts"/>) and reads are single-key commands, pipelined. Every key has a TTL: the business data
/// <c>Ledger:Retention</c>, a fence the life of the dedup record it guards (<see cref="FenceLifetime"/>).
/// </summary>
internal sealed class RedisLedger : ILedger
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly IDatabase _db;
    readonly LedgerKeys _keys;
    readonly long _dataTtl;
    readonly long _fenceTtl;
    readonly int _maxEntries;
    readonly string _worker = $"{Environment.MachineName}/{Environment.ProcessId}";

    public RedisLedger(IConnectionMultiplexer connection, LedgerSettings settings, DedupOptions dedup)
    {
        _db = connection.GetDatabase();
        _keys = new LedgerKeys(settings.KeyPrefix);
        _dataTtl = (long)settings.Retention.TotalMilliseconds;
        _fenceTtl = (long)FenceLifetime(dedup).TotalMilliseconds;
        _maxEntries = settings.MaxEntries;
    }

    /// <summary>
    /// How long a fence lives after its last write or check: at least as long as the dedup record it guards, or a
    /// takeover of that record would find no fence and run the work again. The record lives <c>Dedup:Retention</c> from
    /// its completion, which comes at most <c>Dedup:MaxRunTime</c> (and a lease or two to settle) after the write.
    /// </summary>
    public static TimeSpan FenceLifetime(DedupOptions dedup) => dedup.Retention + dedup.MaxRunTime + 2 * dedup.Lease;

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
        return WriteAsync(_keys.Payment(entry.PaymentId), _keys.Entries(entry.PaymentId), entry.PaymentId, entry.Fence, json, string.Empty);
    }

    public Task RecordQuoteAsync(QuoteIssued quote, Fence fence, CancellationToken cancellationToken)
    {
        var counter = _keys.Quote(quote.QuoteId);
        return WriteAsync(counter, counter, quote.QuoteId, fence, string.Empty, JsonSerializer.Serialize(quote, Json));
    }

    public async Task<FenceCheck> TakeOverPaymentAsync(string paymentId, Fence fence, CancellationToken cancellationToken)
    {
        var (applied, _) = await TakeOverAsync(paymentId, fence);
        return new FenceCheck(applied);
    }

    public async Task<FenceCheck> TakeOverQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken)
    {
        var (applied, reply) = await TakeOverAsync(quoteId, fence);
        return new FenceCheck(applied, applied > 0 && reply.Length > 0 ? JsonSerializer.Deserialize<QuoteIssued>(reply, Json) : null);
    }

    public Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken) =>
        CountsAsync(paymentIds, _keys.Payment);

    public Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken) =>
        CountsAsync(quoteIds, _keys.Quote);

    async Task WriteAsync(RedisKey counter, RedisKey entries, string id, Fence fence, string entry, string reply)
    {
        var result = (long)await _db.ScriptEvaluateAsync(LedgerScripts.Write,
            [fence.IsFenced ? _keys.Fence(id, fence.Key) : counter, counter, entries],
            [fence.IsFenced ? (RedisValue)fence.Epoch : RedisValue.EmptyString, _fenceTtl, _dataTtl, entry, _maxEntries, reply]);
        if (result < 0)
            throw new StaleEpochException(fence.Key, fence.Epoch, -result);
    }

    async Task<(long Applied, string Reply)> TakeOverAsync(string id, Fence fence)
    {
        if (!fence.IsFenced)
            throw new ArgumentException("A takeover check needs the dedup key and the new owner's epoch.", nameof(fence));
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(LedgerScripts.TakeOver, [_keys.Fence(id, fence.Key)], [fence.Epoch, _fenceTtl]))!;
        return ((long)reply[0], (string?)reply[1] ?? string.Empty);
    }

    // One GET per id, pipelined on the connection: single-key commands, so each goes to its own slot on a cluster.
    async Task<IReadOnlyList<long>> CountsAsync(IReadOnlyList<string> ids, Func<string, RedisKey> key)
    {
        var counts = new long[ids.Count];
        const int batch = 1000;
        for (var start = 0; start < ids.Count; start += batch)
        {
            var reads = ids.Skip(start).Take(batch).Select(id => _db.StringGetAsync(key(id))).ToArray();
            var values = await Task.WhenAll(reads);
            for (var i = 0; i < values.Length; i++)
                counts[start + i] = values[i].IsNull ? 0 : (long)values[i];
        }

        return counts;
    }
}
