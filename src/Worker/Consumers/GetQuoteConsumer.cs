using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>
/// Prices a quote and replies with <see cref="QuoteIssued"/> (request/response). Each execution draws a new
/// <see cref="QuoteIssued.QuoteNumber"/> and is counted in the ledger, so a duplicate that got the original reply
/// replayed shows the original's number and no second execution.
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
        if (_settings.QuoteWorkTime > TimeSpan.Zero)
            await Task.Delay(_settings.QuoteWorkTime, context.CancellationToken);

        // A stable price per product (string.GetHashCode differs per process).
        var unitPrice = 1m + request.Product.Sum(c => (int)c) % 10_000 / 100m;
        context.CancellationToken.ThrowIfCancellationRequested();
        await _ledger.RecordQuoteAsync(request.QuoteId, context.Fence(), CancellationToken.None);
        await context.RespondAsync(new QuoteIssued(request.QuoteId, unitPrice * request.Quantity, Random.Shared.NextInt64(1, long.MaxValue), _time.GetUtcNow()));
    }
}
