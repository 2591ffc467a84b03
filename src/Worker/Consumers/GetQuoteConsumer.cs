using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>
/// Prices a quote and replies with <see cref="QuoteIssued"/> (request/response). Each execution draws a new
/// <see cref="QuoteIssued.QuoteNumber"/> and records the whole reply in the ledger, fenced by the claim's epoch, before
/// it responds: a duplicate gets the original reply replayed by the filter, and a takeover after this owner died gets it
/// from the ledger (its takeover check), so a requester never sees two quote numbers for one request.
/// </summary>
public sealed class GetQuoteConsumer : IConsumer<GetQuote>
{
    /// <summary>The queue.</summary>
    public const string Queue = "quotes";

    readonly ILedger _ledger;
    readonly WorkerSettings _settings;
    readonly TimeProvider _time;

    /// <summary>Creates the consumer.</summary>
    public GetQuoteConsumer(ILedger ledger, WorkerSettings settings, TimeProvider time)
    {
        _ledger = ledger;
        _settings = settings;
        _time = time;
    }

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<GetQuote> context)
    {
        var request = context.Message;
        if (string.IsNullOrWhiteSpace(request.QuoteId))
            throw new InvalidOperationException("The quote request has no quoteId; send GetQuote { quoteId, product, quantity } with a quoteId.");
        if (_settings.QuoteWorkTime > TimeSpan.Zero)
            await Task.Delay(_settings.QuoteWorkTime, context.CancellationToken);

        // A stable price per product (string.GetHashCode differs per process).
        var unitPrice = 1m + request.Product.Sum(c => (int)c) % 10_000 / 100m;
        var quote = new QuoteIssued(request.QuoteId, unitPrice * request.Quantity, Random.Shared.NextInt64(1, long.MaxValue), _time.GetUtcNow());

        // The last point to give up: once the quote is in the ledger it has been issued, and a takeover replays it.
        context.CancellationToken.ThrowIfCancellationRequested();
        await _ledger.RecordQuoteAsync(quote, context.Fence(), CancellationToken.None);
        await context.RespondAsync(quote);
    }
}
