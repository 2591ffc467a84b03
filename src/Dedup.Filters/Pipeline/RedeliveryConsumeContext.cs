using MassTransit;
using MassTransit.Context;

namespace Dedup.Pipeline;

/// <summary>
/// The consume context below <see cref="DedupRedeliveryFilter"/>: a transient dedup failure is reported to the
/// observers (<c>ConsumeFault</c>) but generates no <c>Fault&lt;T&gt;</c>.
/// </summary>
/// <remarks>
/// MassTransit generates a fault for every exception a consumer's pipe throws (<c>ConsumerMessageFilter</c> calls
/// <c>NotifyFaulted</c>, which calls <c>GenerateFault</c>; under message retry once the retries are used up), and sends
/// a request's fault straight to the requester, who then gives up. A transient dedup failure is not a fault: the
/// message goes back to the broker and runs later, and the requester must get that run's reply. Every
/// <c>NotifyFaulted</c> below this filter lands here, because the message contexts this proxy hands out
/// (<c>TryGetMessage</c>) delegate to it.
/// </remarks>
internal sealed class RedeliveryConsumeContext : ConsumeContextProxy
{
    Func<int, CancellationToken, Task>? _sendCopy;

    public RedeliveryConsumeContext(ConsumeContext context)
        : base(context)
    {
    }

    /// <summary>
    /// Re-sends the message as a copy (<see cref="RedeliveryCopy"/>), given the number of transient failures so far;
    /// null unless a consumer failed transiently (it needs the message's type, which only a consumer's context has).
    /// </summary>
    public Func<int, CancellationToken, Task>? SendCopy => Volatile.Read(ref _sendCopy);

    public override Task NotifyFaulted<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
    {
        if (!DedupRedeliveryFilter.IsTransient(exception))
            return base.NotifyFaulted(context, duration, consumerType, exception);

        Interlocked.CompareExchange(ref _sendCopy, (failures, cancellationToken) => RedeliveryCopy.SendAsync(context, failures, cancellationToken), null);

        // The receive context's part only: observers hear of the failed attempt, nobody gets a fault.
        return ReceiveContext.NotifyFaulted(context, duration, consumerType, exception);
    }
}
