using Dedup.Worker.Contracts;

namespace Dedup.Worker.Ledger;

/// <summary>
/// The ledger in process memory, for the embedded demo: the same counts and fences as <see cref="RedisLedger"/>, without
/// expiry (it lives as long as the demo).
/// </summary>
internal sealed class InMemoryLedger : ILedger
{
    readonly Lock _gate = new();
    readonly Dictionary<string, long> _payments = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _quotes = new(StringComparer.Ordinal);
    readonly Dictionary<(string Id, string Key), FenceRecord> _fences = [];

    public Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken)
    {
        Write(_payments, entry.PaymentId, entry.Fence, null);
        return Task.CompletedTask;
    }

    public Task RecordQuoteAsync(QuoteIssued quote, Fence fence, CancellationToken cancellationToken)
    {
        Write(_quotes, quote.QuoteId, fence, quote);
        return Task.CompletedTask;
    }

    public Task<FenceCheck> TakeOverPaymentAsync(string paymentId, Fence fence, CancellationToken cancellationToken) =>
        Task.FromResult(TakeOver(paymentId, fence));

    public Task<FenceCheck> TakeOverQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken) =>
        Task.FromResult(TakeOver(quoteId, fence));

    public Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken) =>
        Task.FromResult(Counts(_payments, paymentIds));

    public Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken) =>
        Task.FromResult(Counts(_quotes, quoteIds));

    void Write(Dictionary<string, long> counts, string id, Fence fence, QuoteIssued? reply)
    {
        lock (_gate)
        {
            if (fence.IsFenced)
            {
                var stored = _fences.GetValueOrDefault((id, fence.Key));
                if (fence.Epoch < stored.Seen)
                    throw new StaleEpochException(fence.Key, fence.Epoch, stored.Seen);
                _fences[(id, fence.Key)] = new FenceRecord(fence.Epoch, fence.Epoch, reply ?? stored.Reply);
            }

            counts[id] = counts.GetValueOrDefault(id) + 1;
        }
    }

    FenceCheck TakeOver(string id, Fence fence)
    {
        lock (_gate)
        {
            var stored = _fences.GetValueOrDefault((id, fence.Key));
            _fences[(id, fence.Key)] = stored with { Seen = Math.Max(stored.Seen, fence.Epoch) };
            return new FenceCheck(stored.Applied, stored.Applied > 0 ? stored.Reply : null);
        }
    }

    IReadOnlyList<long> Counts(Dictionary<string, long> counts, IReadOnlyList<string> ids)
    {
        lock (_gate)
            return [.. ids.Select(id => counts.GetValueOrDefault(id))];
    }

    readonly record struct FenceRecord(long Seen, long Applied, QuoteIssued? Reply);
}
