using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;

namespace Dedup.Reliability.Host;

/// <summary>
/// Test-only: wraps the ledger so the process dies (or pauses) right before or right after the side effect of one
/// payment. The ledger write is the consumer's side effect, so "before" is after the claim and "after" is before
/// the completion.
/// </summary>
internal sealed class FaultInjectingLedger(ILedger inner, FaultSettings faults) : ILedger
{
    public async Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken)
    {
        var match = faults.Matches(entry.PaymentId);
        if (match && faults.Kill == KillPoint.AfterClaim)
            FaultInjection.Die($"after the claim of payment {entry.PaymentId} (epoch {entry.Fence.Epoch}), before its side effect");

        await inner.RecordPaymentAsync(entry, cancellationToken).ConfigureAwait(false);

        if (match && faults.Kill == KillPoint.AfterSideEffect)
            FaultInjection.Die($"after the side effect of payment {entry.PaymentId} (epoch {entry.Fence.Epoch}), before completion");
        if (match && faults.PauseAfterSideEffect > TimeSpan.Zero)
        {
            FaultInjection.Mark($"side effect done for payment {entry.PaymentId} (epoch {entry.Fence.Epoch}); pausing {faults.PauseAfterSideEffect} before completion");
            await Task.Delay(faults.PauseAfterSideEffect, CancellationToken.None).ConfigureAwait(false);
        }
    }

    public Task RecordQuoteAsync(QuoteIssued quote, Fence fence, CancellationToken cancellationToken) =>
        inner.RecordQuoteAsync(quote, fence, cancellationToken);

    public Task<FenceCheck> TakeOverPaymentAsync(string paymentId, Fence fence, CancellationToken cancellationToken) =>
        inner.TakeOverPaymentAsync(paymentId, fence, cancellationToken);

    public Task<FenceCheck> TakeOverQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken) =>
        inner.TakeOverQuoteAsync(quoteId, fence, cancellationToken);

    public Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken) =>
        inner.PaymentExecutionsAsync(paymentIds, cancellationToken);

    public Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken) =>
        inner.QuoteExecutionsAsync(quoteIds, cancellationToken);
}
