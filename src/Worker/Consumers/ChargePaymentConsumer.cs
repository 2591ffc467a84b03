using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>
/// Charges a payment: the side effect that must happen once. It "calls the payment provider" (a configurable
/// delay, <c>Worker:PaymentWorkTime</c>) and writes one ledger entry, fenced by the dedup claim's epoch so a claim
/// that was taken over cannot write after its successor.
/// </summary>
public sealed class ChargePaymentConsumer : IConsumer<ChargePayment>
{
    /// <summary>The queue.</summary>
    public const string Queue = "payments";

    readonly ILedger _ledger;
    readonly WorkerSettings _settings;

    /// <summary>Creates the consumer.</summary>
    public ChargePaymentConsumer(ILedger ledger, WorkerSettings settings)
    {
        _ledger = ledger;
        _settings = settings;
    }

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<ChargePayment> context)
    {
        var payment = context.Message;
        if (_settings.PaymentWorkTime > TimeSpan.Zero)
            await Task.Delay(_settings.PaymentWorkTime, context.CancellationToken);

        // The last point to give up: after the ledger write the work has happened.
        context.CancellationToken.ThrowIfCancellationRequested();
        await _ledger.RecordPaymentAsync(
            new PaymentEntry(payment.PaymentId.ToString(), payment.Amount, payment.Currency, Queue, context.MessageId?.ToString(), context.Fence()),
            CancellationToken.None);
    }
}
