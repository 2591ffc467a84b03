using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// The outermost dedup filter of an endpoint's consume pipe. A message whose dedup step failed transiently
/// (<see cref="DedupTransientException"/>: store unavailable, in-flight wait ran out, lease lost) is held for
/// <see cref="DedupOptions.RedeliveryDelay"/> and returned to the broker (RabbitMQ: basic.nack with requeue): it never
/// reaches the endpoint's error pipe and produces no <c>Fault&lt;T&gt;</c>. Every other fault goes on to the error pipe
/// exactly as the user configured it (MassTransit's default, <c>DiscardFaultedMessages</c>, their own filters).
/// </summary>
/// <remarks>
/// It sits outside message retry, so a transient failure is retried in process first and returned only once the
/// retries are used up. MassTransit's in-memory transport drops a message whose receive pipe throws, so there
/// (loopback addresses) a transient fault goes through the error pipe like any other: to the error queue with its
/// reason, nothing lost.
/// </remarks>
internal sealed class DedupRedeliveryFilter : IFilter<ConsumeContext>
{
    readonly ClaimCoordinator _coordinator;
    readonly DedupOptions _options;

    public DedupRedeliveryFilter(ClaimCoordinator coordinator)
    {
        _coordinator = coordinator;
        _options = coordinator.Options;
    }

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (!DedupErrorFilter.CanRequeue(context.ReceiveContext.InputAddress))
        {
            try
            {
                await next.Send(context).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                NoteFault(context, exception);
                throw;
            }

            return;
        }

        try
        {
            await next.Send(new RedeliveryConsumeContext(context)).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsTransient(exception))
        {
            await HoldAsync(context, exception).ConfigureAwait(false);
            throw new DedupRedeliveryException(exception);
        }
        catch (Exception exception)
        {
            NoteFault(context, exception);
            throw;
        }
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup-redelivery");
        scope.Add("redeliveryDelay", _options.RedeliveryDelay);
    }

    /// <summary>True for a <see cref="DedupTransientException"/> or an exception caused by one.</summary>
    public static bool IsTransient(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DedupTransientException)
                return true;
        }

        return false;
    }

    async Task HoldAsync(ConsumeContext context, Exception exception)
    {
        var delay = _options.RedeliveryDelay;
        if (delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(delay, context.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping: the message is returned at once.
            }
        }

        RedeliveryLog.Returned(_coordinator.Logger, context.MessageId, context.ReceiveContext.InputAddress,
            (long)delay.TotalMilliseconds, 1, exception.Message);
    }

    /// <summary>Keeps the exception of a delivery whose consumer failed, for <see cref="DedupErrorFilter"/>.</summary>
    void NoteFault(ConsumeContext context, Exception exception)
    {
        if (_options.RecordFaults && context.ReceiveContext.TryGetPayload<FailedClaims>(out _))
            context.ReceiveContext.GetOrAddPayload(() => new DeliveryFault(exception));
    }
}
