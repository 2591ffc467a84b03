using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;

namespace Dedup.Worker.Consumers;

/// <summary>
/// The takeover check of both payment consumers (issue 10): when a payment's claim is taken over, the ledger answers
/// whether the previous owner charged it and, in the same script, raises the dedup key's fence to the new epoch. Applied:
/// the filter completes the key without charging again. Not applied: the consumer runs, and a paused previous owner that
/// writes later is refused (<see cref="StaleEpochException"/>).
/// </summary>
public sealed class PaymentTakeoverCheck : IDedupTakeoverCheck<ChargePayment>, IDedupTakeoverCheck<ExternalPayment>
{
    readonly ILedger _ledger;

    /// <summary>Creates the check.</summary>
    public PaymentTakeoverCheck(ILedger ledger) => _ledger = ledger;

    /// <inheritdoc />
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<ChargePayment> takeover, CancellationToken cancellationToken) =>
        CheckAsync(takeover.Message.PaymentId.ToString(), takeover, cancellationToken);

    /// <inheritdoc />
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<ExternalPayment> takeover, CancellationToken cancellationToken) =>
        string.IsNullOrWhiteSpace(takeover.Message.PaymentId)
            ? Task.FromResult(TakeoverVerdict.NotApplied) // never written: the consumer rejects it again
            : CheckAsync(takeover.Message.PaymentId, takeover, cancellationToken);

    async Task<TakeoverVerdict> CheckAsync(string paymentId, DedupTakeover takeover, CancellationToken cancellationToken)
    {
        var found = await _ledger.TakeOverPaymentAsync(paymentId, new Fence(takeover.Key, takeover.Epoch), cancellationToken);
        return found.Applied ? TakeoverVerdict.Applied() : TakeoverVerdict.NotApplied;
    }
}
