using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;

namespace Dedup.Worker.Consumers;

/// <summary>
/// The takeover check of <see cref="GetQuoteConsumer"/> (issue 10): when a quote request's claim is taken over and the
/// ledger holds the quote the previous owner issued, that quote is the answer (the requester gets it now, and every later
/// duplicate request gets it replayed), so a requester whose original owner died after answering never receives a second,
/// different quote number. Otherwise the fence is raised to the new epoch and the consumer prices the quote.
/// </summary>
public sealed class GetQuoteTakeoverCheck : IDedupTakeoverCheck<GetQuote>
{
    readonly ILedger _ledger;

    /// <summary>Creates the check.</summary>
    public GetQuoteTakeoverCheck(ILedger ledger) => _ledger = ledger;

    /// <inheritdoc />
    public async Task<TakeoverVerdict> CheckAsync(DedupTakeover<GetQuote> takeover, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(takeover.Message.QuoteId))
            return TakeoverVerdict.NotApplied; // never written: the consumer rejects it again

        var found = await _ledger.TakeOverQuoteAsync(takeover.Message.QuoteId, new Fence(takeover.Key, takeover.Epoch), cancellationToken);
        return found.Applied ? TakeoverVerdict.Applied(found.Quote) : TakeoverVerdict.NotApplied;
    }
}
