using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// The outermost dedup filter of an endpoint's consume pipe. A message whose dedup step failed transiently
/// (<see cref="DedupTransientException"/>: store unavailable, in-flight wait ran out, lease lost) is held for a while
/// and returned to the broker (RabbitMQ: basic.nack with requeue): it never
/// reaches the endpoint's error pipe and produces no <c>Fault&lt;T&gt;</c>. Every other fault goes on to the error pipe
/// exactly as the user configured it (MassTransit's default, <c>DiscardFaultedMessages</c>, their own filters).
/// </summary>
/// <remarks>
/// The hold is <see cref="DedupOptions.RedeliveryDelay"/> (at least 50 ms) after a message's first transient failure,
/// doubled after each further one up to <see cref="DedupOptions.MaxRedeliveryDelay"/>; the failures are counted per
/// MessageId in this process (<see cref="RedeliveryCounter"/>) and from what the delivery says (the redelivered flag, a
/// quorum queue's <c>x-delivery-count</c>). It sits outside message retry, so a transient failure is retried in process first and returned only once the
/// retries are used up. MassTransit's in-memory transport drops a message whose receive pipe throws, so there
/// (loopback addresses) a transient fault goes through the error pipe like any other: to the error queue with its
/// reason, nothing lost.
/// </remarks>
internal sealed class DedupRedeliveryFilter : IFilter<ConsumeContext>
{
    /// <summary>How often a quorum queue has returned the message (RabbitMQ sets it from the second delivery on).</summary>
    const string DeliveryCountHeader = "x-delivery-count";

    readonly ClaimCoordinator _coordinator;
    readonly DedupOptions _options;
    readonly RedeliveryCounter _failures = new();

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
            _failures.Forget(context.MessageId);
            NoteFault(context, exception);
            throw;
        }

        _failures.Forget(context.MessageId);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup-redelivery");
        scope.Add("redeliveryDelay", _options.RedeliveryDelay);
        scope.Add("maxRedeliveryDelay", _options.MaxRedeliveryDelay);
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
        var receive = context.ReceiveContext;
        var knownBefore = Math.Max(DeliveryCount(receive), receive.Redelivered ? 1 : 0);
        var attempt = _failures.Next(context.MessageId, knownBefore);
        var delay = RedeliveryBackoff.Delay(_options.RedeliveryDelay, _options.MaxRedeliveryDelay, attempt);
        try
        {
            await Task.Delay(delay, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the message is returned at once.
        }

        RedeliveryLog.Returned(_coordinator.Logger, context.MessageId, receive.InputAddress, (long)delay.TotalMilliseconds, attempt, exception.Message);
    }

    /// <summary>The broker's count of earlier deliveries (a quorum queue's <c>x-delivery-count</c>), or 0.</summary>
    static int DeliveryCount(ReceiveContext context) =>
        context.TransportHeaders.TryGetHeader(DeliveryCountHeader, out var value) ? AsCount(value) : 0;

    static int AsCount(object? value) => value switch
    {
        int count => count,
        long count => (int)Math.Clamp(count, 0, int.MaxValue),
        string text when int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var count) => count,
        _ => 0,
    };

    /// <summary>Keeps the exception of a delivery whose consumer failed, for <see cref="DedupErrorFilter"/>.</summary>
    void NoteFault(ConsumeContext context, Exception exception)
    {
        if (_options.RecordFaults && context.ReceiveContext.TryGetPayload<FailedClaims>(out _))
            context.ReceiveContext.GetOrAddPayload(() => new DeliveryFault(exception));
    }
}
