using Dedup.Worker.Contracts;

namespace Dedup.Worker.Ledger;

/// <summary>
/// The sample side-effect store: where the consumers record what they did, so an operator or a test can count, per
/// payment and per quote, how many times the work ran. Writes are fenced by the dedup claim's epoch, and a takeover of a
/// claim asks the ledger whether the previous owner's write happened (README, "Closing the crash window").
/// </summary>
public interface ILedger
{
    /// <summary>Records one execution of a payment.</summary>
    /// <exception cref="StaleEpochException">A newer owner of the same dedup key already wrote or took it over.</exception>
    Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken);

    /// <summary>Records one execution of a quote, with the reply its requester gets (kept for a takeover to replay).</summary>
    /// <exception cref="StaleEpochException">A newer owner of the same dedup key already wrote or took it over.</exception>
    Task RecordQuoteAsync(QuoteIssued quote, Fence fence, CancellationToken cancellationToken);

    /// <summary>
    /// The takeover check of a payment, in one atomic step: whether an owner of <see cref="Fence.Key"/> applied it, and
    /// the fence raised to <see cref="Fence.Epoch"/>, so that no owner before it can write afterwards.
    /// </summary>
    Task<FenceCheck> TakeOverPaymentAsync(string paymentId, Fence fence, CancellationToken cancellationToken);

    /// <summary>The takeover check of a quote: as <see cref="TakeOverPaymentAsync"/>, with the reply the applied quote stored.</summary>
    Task<FenceCheck> TakeOverQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken);

    /// <summary>How many times each payment ran (0 for one that never ran, or whose record expired).</summary>
    Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken);

    /// <summary>How many times each quote ran (0 for one that never ran, or whose record expired).</summary>
    Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken);
}

/// <summary>The dedup claim a write is made under: the store key and its fencing epoch (empty and 0 when not deduplicated).</summary>
/// <param name="Key">The dedup store key.</param>
/// <param name="Epoch">The claim's fencing epoch.</param>
public readonly record struct Fence(string Key, long Epoch)
{
    /// <summary>True when the write is made under a dedup claim (and so is fenced).</summary>
    public bool IsFenced => !string.IsNullOrEmpty(Key);
}

/// <summary>What a takeover check found in the ledger for a dedup key (before it raised the fence).</summary>
/// <param name="AppliedEpoch">The epoch of the owner whose write applied the effect; 0 when none did.</param>
/// <param name="Quote">For a quote, the reply its write stored.</param>
public readonly record struct FenceCheck(long AppliedEpoch, QuoteIssued? Quote = null)
{
    /// <summary>True when an owner of the dedup key applied the effect.</summary>
    public bool Applied => AppliedEpoch > 0;
}

/// <summary>One ledger entry: a payment charged once.</summary>
/// <param name="PaymentId">The payment.</param>
/// <param name="Amount">The amount.</param>
/// <param name="Currency">The currency.</param>
/// <param name="Source">The queue the payment came from.</param>
/// <param name="MessageId">The message id it arrived with (AMQP message_id or MassTransit MessageId).</param>
/// <param name="Fence">The dedup claim it ran under.</param>
public sealed record PaymentEntry(string PaymentId, decimal Amount, string Currency, string Source, string? MessageId, Fence Fence);
