using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>
/// Charges a payment published as plain JSON by a producer that is not MassTransit (queue
/// <see cref="Queue"/>); deduplicated by the AMQP <c>message_id</c> (see <see cref="AmqpMessageId"/>).
/// </summary>
public sealed class ExternalPaymentConsumer : IConsumer<ExternalPayment>
{
    /// <summary>The queue.</summary>
    public const string Queue = "external-payments";

    readonly ILedger _ledger;
    readonly WorkerSettings _settings;

    /// <summary>Creates the consumer.</summary>
    public ExternalPaymentConsumer(ILedger ledger, WorkerSettings settings)
    {
        _ledger = ledger;
        _settings = settings;
    }

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<ExternalPayment> context)
    {
        var payment = context.Message;
        if (string.IsNullOrWhiteSpace(payment.PaymentId))
            throw new InvalidOperationException("The external payment has no paymentId; publish {\"paymentId\":\"...\",\"amount\":12.5,\"currency\":\"EUR\"}.");
        if (_settings.PaymentWorkTime > TimeSpan.Zero)
            await Task.Delay(_settings.PaymentWorkTime, context.CancellationToken);

        context.CancellationToken.ThrowIfCancellationRequested();
        await _ledger.RecordPaymentAsync(
            new PaymentEntry(payment.PaymentId, payment.Amount, payment.Currency, Queue, AmqpMessageId.Of(context), context.Fence()),
            CancellationToken.None);
    }
}
