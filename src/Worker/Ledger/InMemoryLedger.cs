using System.Collections.Concurrent;

namespace Dedup.Worker.Ledger;

/// <summary>The ledger in process memory, for the embedded demo: the same counts and fences as <see cref="RedisLedger"/>.</summary>
internal sealed class InMemoryLedger : ILedger
{
    readonly ConcurrentDictionary<string, long> _payments = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, long> _quotes = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _fences = new(StringComparer.Ordinal);

    public Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken)
    {
        Write(_payments, entry.PaymentId, entry.Fence);
        return Task.CompletedTask;
    }

    public Task RecordQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken)
    {
        Write(_quotes, quoteId, fence);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<long>>([.. paymentIds.Select(id => _payments.GetValueOrDefault(id))]);

    public Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<long>>([.. quoteIds.Select(id => _quotes.GetValueOrDefault(id))]);

    void Write(ConcurrentDictionary<string, long> counts, string id, Fence fence)
    {
        lock (_fences)
        {
            if (!string.IsNullOrEmpty(fence.Key))
            {
                var stored = _fences.GetValueOrDefault(fence.Key);
                if (fence.Epoch < stored)
                    throw new StaleEpochException(fence.Key, fence.Epoch, stored);
                _fences[fence.Key] = fence.Epoch;
            }

            counts.AddOrUpdate(id, 1, (_, n) => n + 1);
        }
    }
}
