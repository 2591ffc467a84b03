namespace Dedup.Worker.Contracts;

/// <summary>
/// Charge a payment: the sample side effect that must happen once. Sent by MassTransit producers to the
/// <c>payments</c> queue; deduplicated by its MessageId, so a producer that retries must send the same MessageId
/// (for example the payment id).
/// </summary>
/// <param name="PaymentId">The payment; the ledger counts executions per payment id.</param>
/// <param name="Amount">The amount to charge.</param>
/// <param name="Currency">ISO 4217 currency code.</param>
public sealed record ChargePayment(Guid PaymentId, decimal Amount, string Currency);
