using System.Runtime.ExceptionServices;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// Withholds the <c>Fault&lt;T&gt;</c> MassTransit generates for a transient dedup failure (store unavailable, in-flight
/// wait ran out, lease lost) of a message that goes back to the broker: a requester must not receive a fault for a
/// message that will still run, and no fault event may be published for it. MassTransit sends a fault from inside
/// the consume pipeline (the consumer filter notifies the fault as soon as a consumer's pipe throws), and a send
/// pipe cannot drop a message, so the fault's send fails with the transient exception itself: the delivery ends
/// exactly as it would have, with that exception, and is returned to the broker.
/// </summary>
internal sealed class TransientFaultFilter : IFilter<SendContext>, IFilter<PublishContext>
{
    public Task Send(SendContext context, IPipe<SendContext> next)
    {
        Withhold(context);
        return next.Send(context);
    }

    public Task Send(PublishContext context, IPipe<PublishContext> next)
    {
        Withhold(context);
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("dedup-transient-fault");

    static void Withhold(SendContext context)
    {
        if (context is not SendContext<Fault> fault || DeliveryScope.Current is not { Transient: { } transient } scope)
            return;
        if (fault.Message.FaultedMessageId != scope.MessageId || !DedupErrorFilter.CanRequeue(scope.InputAddress))
            return;

        ExceptionDispatchInfo.Capture(transient).Throw();
    }
}
