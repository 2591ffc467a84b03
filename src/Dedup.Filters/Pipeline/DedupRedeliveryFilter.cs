using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// The outermost dedup filter of an endpoint's consume pipe. A message whose dedup step failed transiently
/// (<see cref="DedupTransientException"/>: store unavailable, in-flight wait ran out, lease lost) is held for a while
/// and then returned to the broker (RabbitMQ: basic.nack with requeue), or, on a queue that counts deliveries, re-sent
/// as a copy while this delivery is acknowledged. It never reaches the endpoint's error pipe and produces no
/// <c>Fault&lt;T&gt;</c>. Every other fault goes on to the error pipe exactly as the user configured it (MassTransit's
/// default, <c>DiscardFaultedMessages</c>, their own filters).
/// </summary>
/// <remarks>
/// The hold is <see cref="DedupOptions.RedeliveryDelay"/> (at least 50 ms) after a message's first transient failure,
/// doubled after each further one up to <see cref="DedupOptions.MaxRedeliveryDelay"/>; the failures are counted per
/// MessageId in this process (<see cref="RedeliveryCounter"/>) and from what the delivery says (the redelivered flag, a
/// quorum queue's <c>x-delivery-count</c>, a copy's <see cref="RedeliveryCopy.FailuresHeader"/>). It sits outside
/// message retry, so a transient failure is retried in process first and returned only once the retries are used up.
/// MassTransit's in-memory transport drops a message whose receive pipe throws, so there (loopback addresses) a
/// transient fault goes through the error pipe like any other: to the error queue with its reason, nothing lost.
/// </remarks>
internal sealed class DedupRedeliveryFilter : IFilter<ConsumeContext>
{
    readonly DedupPipeline _pipeline;
    readonly DedupOptions _options;
    readonly RedeliveryCounter _failures = new();

    public DedupRedeliveryFilter(DedupPipeline pipeline)
    {
        _pipeline = pipeline;
        _options = pipeline.Options;
    }

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (context.TryGetPayload<RedeliveryConsumeContext>(out _))
        {
            // Installed twice (on the bus and on the endpoint): the outer filter owns the delivery.
            await next.Send(context).ConfigureAwait(false);
            return;
        }

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

        var redelivery = new RedeliveryConsumeContext(context);
        try
        {
            await next.Send(redelivery).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsTransient(exception))
        {
            // The message goes back to the broker, so no fault is recorded: claims held for one are released now, not
            // after the hold below (copies would wait for them meanwhile).
            if (context.ReceiveContext.TryGetPayload<FailedClaims>(out var failed))
                await failed.ReleaseAllAsync(_pipeline.Metrics).ConfigureAwait(false);

            if (await RedeliverAsync(context, redelivery, exception).ConfigureAwait(false))
                return; // a copy is in the queue: this delivery is acknowledged
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

    /// <summary>
    /// Holds the message, then re-sends it as a copy when the queue counts deliveries (true: acknowledge this delivery),
    /// or leaves it to be returned (false).
    /// </summary>
    /// <remarks>
    /// A quorum queue counts every return (<c>x-delivery-count</c>, from the second delivery on) and drops or
    /// dead-letters a message returned more often than its <c>x-delivery-limit</c>, so a Redis outage longer than
    /// limit × hold would lose messages. A copy starts at zero, and to dedup it is the same message (same MessageId,
    /// body and headers). It is sent, and confirmed by the broker, before this delivery is acknowledged: if the
    /// acknowledgement is lost both exist, and the second is a duplicate. So each copy is returned once at most.
    /// </remarks>
    async Task<bool> RedeliverAsync(ConsumeContext context, RedeliveryConsumeContext redelivery, Exception exception)
    {
        var receive = context.ReceiveContext;
        var deliveryCount = HeaderCount(receive, RedeliveryCopy.DeliveryCountHeader);
        var knownBefore = Math.Max(Math.Max(deliveryCount, HeaderCount(receive, RedeliveryCopy.FailuresHeader)), receive.Redelivered ? 1 : 0);
        var attempt = _failures.Next(context.MessageId, knownBefore);
        var delay = RedeliveryBackoff.Delay(_options.RedeliveryDelay, _options.MaxRedeliveryDelay, attempt);
        var logger = _pipeline.Logger;
        try
        {
            await Task.Delay(delay, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the message is returned at once.
            RedeliveryLog.Returned(logger, context.MessageId, receive.InputAddress, (long)delay.TotalMilliseconds, attempt, exception.Message);
            return false;
        }

        if (deliveryCount > 0 && redelivery.SendCopy is { } sendCopy)
        {
            if (!RedeliveryCopy.KeepsIdentity(context))
            {
                RedeliveryLog.NotCopyable(logger, context.MessageId, receive.InputAddress, deliveryCount);
            }
            else
            {
                try
                {
                    await sendCopy(attempt, context.CancellationToken).ConfigureAwait(false);
                    RedeliveryLog.Copied(logger, context.MessageId, receive.InputAddress, (long)delay.TotalMilliseconds, attempt, deliveryCount);
                    return true;
                }
                catch (Exception copyFailure)
                {
                    RedeliveryLog.CopyFailed(logger, context.MessageId, receive.InputAddress, deliveryCount, copyFailure);
                }
            }
        }

        RedeliveryLog.Returned(logger, context.MessageId, receive.InputAddress, (long)delay.TotalMilliseconds, attempt, exception.Message);
        return false;
    }

    /// <summary>A count the delivery carries in a transport header (the broker's delivery count, the copy's failures), or 0.</summary>
    static int HeaderCount(ReceiveContext context, string header) =>
        context.TransportHeaders.TryGetHeader(header, out var value) ? AsCount(value) : 0;

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
