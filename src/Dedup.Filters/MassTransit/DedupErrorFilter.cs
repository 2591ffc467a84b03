using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// The error pipe's first filter: a <see cref="DedupTransientException"/> (store unavailable, in-flight wait ran
/// out, lease lost) is rethrown after <see cref="DedupOptions.RedeliveryDelay"/>, so the transport returns the
/// message to the broker (RabbitMQ: basic.nack with requeue) instead of moving it to the error queue. Everything
/// else goes on to MassTransit's default error handling (a fault event and the <c>_error</c> queue).
/// </summary>
/// <remarks>
/// MassTransit's in-memory transport drops a message whose receive pipe throws, so there a transient fault goes
/// to the error queue with its reason instead: nothing is lost.
/// </remarks>
internal sealed class DedupRedeliveryFilter : IFilter<ExceptionReceiveContext>
{
    readonly TimeSpan _delay;

    public DedupRedeliveryFilter(TimeSpan delay) => _delay = delay;

    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (IsTransient(context.Exception) && CanRequeue(context.InputAddress))
        {
            if (_delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(_delay, context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: the transport requeues an unacknowledged message anyway.
                }
            }

            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(context.Exception).Throw();
        }

        await next.Send(context).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("dedup-redelivery").Add("delay", _delay);

    static bool IsTransient(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DedupTransientException)
                return true;
        }

        return false;
    }

    static bool CanRequeue(Uri inputAddress) => !string.Equals(inputAddress.Scheme, "loopback", StringComparison.OrdinalIgnoreCase);
}
