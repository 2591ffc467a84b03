namespace Dedup.Worker.Contracts;

/// <summary>
/// A payment published as plain JSON by a producer that is not MassTransit, to the <c>external-payments</c> queue:
/// <c>{"paymentId":"inv-1001","amount":12.50,"currency":"EUR"}</c>, content type <c>application/json</c> (or none),
/// deduplicated by the AMQP <c>message_id</c> property (any non-empty string up to 4096 characters).
/// </summary>
/// <param name="PaymentId">The payment; the ledger counts executions per payment id.</param>
/// <param name="Amount">The amount to charge.</param>
/// <param name="Currency">ISO 4217 currency code.</param>
public sealed record ExternalPayment(string PaymentId, decimal Amount, string Currency);
