using Dedup.Worker.Contracts;
using MassTransit;

namespace Dedup.Worker.Faults;

/// <summary>
/// Test-only: the outermost consume filter. When the whole consume pipeline (consumer and dedup completion) returned
/// for the configured payment, the process dies before MassTransit acknowledges the message.
/// </summary>
internal sealed class KillAfterCompleteFilter(FaultSettings faults) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        await next.Send(context).ConfigureAwait(false);

        var paymentId = context.TryGetMessage<ChargePayment>(out var charge) ? charge.Message.PaymentId.ToString()
            : context.TryGetMessage<ExternalPayment>(out var external) ? external.Message.PaymentId
            : null;
        if (faults.Matches(paymentId))
            FaultInjection.Die($"after the completion of payment {paymentId}, before the ack");
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("fault-kill-after-complete");
}
