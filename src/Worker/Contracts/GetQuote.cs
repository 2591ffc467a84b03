namespace Dedup.Worker.Contracts;

/// <summary>
/// A request for a price quote, sent to the <c>quotes</c> queue with a ResponseAddress; answered with
/// <see cref="QuoteIssued"/>. Deduplicated by its MessageId: a duplicate does not price the quote again.
/// </summary>
/// <param name="QuoteId">The quote; the ledger counts executions per quote id.</param>
/// <param name="Product">What is quoted.</param>
/// <param name="Quantity">How many.</param>
public sealed record GetQuote(string QuoteId, string Product, int Quantity);

/// <summary>The reply to <see cref="GetQuote"/>.</summary>
/// <param name="QuoteId">The quote requested.</param>
/// <param name="Price">The total price.</param>
/// <param name="QuoteNumber">A number drawn when the quote ran: a replayed reply carries the original's number.</param>
/// <param name="IssuedAt">When the quote ran.</param>
public sealed record QuoteIssued(string QuoteId, decimal Price, long QuoteNumber, DateTimeOffset IssuedAt);
