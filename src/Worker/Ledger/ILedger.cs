namespace Dedup.Worker.Ledger;

/// <summary>
/// The sample side-effect store: where the consumers record what they did, so an operator or a test can count,
/// per payment and per quote, how many times the work ran. Writes are fenced by the dedup claim's epoch.
/// </summary>
public interface ILedger
{
    /// <summary>Records one execution of a payment.</summary>
    /// <exception cref="StaleEpochException">A newer owner of the same dedup key already wrote (this claim was taken over).</exception>
    Task RecordPaymentAsync(PaymentEntry entry, CancellationToken cancellationToken);

    /// <summary>Records one execution of a quote.</summary>
    /// <exception cref="StaleEpochException">A newer owner of the same dedup key already wrote.</exception>
    Task RecordQuoteAsync(string quoteId, Fence fence, CancellationToken cancellationToken);

    /// <summary>How many times each payment ran (0 for one that never ran).</summary>
    Task<IReadOnlyList<long>> PaymentExecutionsAsync(IReadOnlyList<string> paymentIds, CancellationToken cancellationToken);

    /// <summary>How many times each quote ran (0 for one that never ran).</summary>
    Task<IReadOnlyList<long>> QuoteExecutionsAsync(IReadOnlyList<string> quoteIds, CancellationToken cancellationToken);
}

/// <summary>The dedup claim a write is made under: the store key and its fencing epoch (empty and 0 when not deduplicated).</summary>
/// <param name="Key">The dedup store key.</param>
/// <param name="Epoch">The claim's fencing epoch.</param>
public readonly record struct Fence(string Key, long Epoch);

/// <summary>One ledger entry: a payment charged once.</summary>
/// <param name="PaymentId">The payment.</param>
/// <param name="Amount">The amount.</param>
/// <param name="Currency">The currency.</param>
/// <param name="Source">The queue the payment came from.</param>
/// <param name="MessageId">The message id it arrived with (AMQP message_id or MassTransit MessageId).</param>
/// <param name="Fence">The dedup claim it ran under.</param>
public sealed record PaymentEntry(string PaymentId, decimal Amount, string Currency, string Source, string? MessageId, Fence Fence);

/// <summary>
/// A write from a claim older than one that already wrote: the dedup claim was taken over (this owner paused or its
/// lease expired) and the newer owner's write wins.
/// </summary>
public sealed class StaleEpochException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StaleEpochException(string key, long epoch, long storedEpoch)
        : base($"Ledger write for dedup key '{key}' at epoch {epoch} rejected: epoch {storedEpoch} already wrote. This claim was taken over; its work is not recorded.")
    {
        Key = key;
        Epoch = epoch;
        StoredEpoch = storedEpoch;
    }

    /// <summary>The dedup key.</summary>
    public string Key { get; }

    /// <summary>The epoch of the rejected write.</summary>
    public long Epoch { get; }

    /// <summary>The highest epoch that wrote.</summary>
    public long StoredEpoch { get; }
}
