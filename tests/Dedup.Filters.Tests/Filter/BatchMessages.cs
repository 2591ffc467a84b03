using System.Collections.Concurrent;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Filters.Tests.Filter;

/// <summary>What the batch consumer saw: each batch's payments and the claim each message carried.</summary>
public sealed class BatchLog
{
    public ConcurrentQueue<Guid[]> Batches { get; } = new();

    public ConcurrentQueue<DedupClaim?> Claims { get; } = new();

    /// <summary>How many batches still throw before the consumer succeeds.</summary>
    public int FailuresLeft;

    public Guid[] Seen => [.. Batches.SelectMany(b => b)];
}

/// <summary>Charges every payment of a batch; throws while the log says so.</summary>
public sealed class ChargeBatchConsumer(Ledger ledger, BatchLog log) : IConsumer<Batch<ChargePayment>>
{
    public Task Consume(ConsumeContext<Batch<ChargePayment>> context)
    {
        log.Batches.Enqueue([.. context.Message.Select(m => m.Message.PaymentId)]);
        foreach (var message in context.Message)
            log.Claims.Enqueue(message.GetDedupClaim());
        if (Interlocked.Decrement(ref log.FailuresLeft) >= 0)
            throw new InvalidOperationException("batch failed (test)");

        foreach (var message in context.Message)
            ledger.Runs.AddOrUpdate(message.Message.PaymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
