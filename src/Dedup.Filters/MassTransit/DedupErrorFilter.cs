using System.Runtime.ExceptionServices;
using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// The error pipe's first filter. A <see cref="DedupTransientException"/> (store unavailable, in-flight wait ran
/// out, lease lost) is rethrown after <see cref="DedupOptions.RedeliveryDelay"/>, so the transport returns the
/// message to the broker (RabbitMQ: basic.nack with requeue) instead of moving it to the error queue. Any other
/// fault is terminal: with <see cref="DedupOptions.RecordFaults"/> it is recorded for the keys whose consumers
/// failed, then MassTransit's default error handling runs (a fault event and the <c>_error</c> queue).
/// </summary>
/// <remarks>
/// MassTransit's in-memory transport drops a message whose receive pipe throws, so there a transient fault goes
/// to the error queue with its reason instead: nothing is lost.
/// </remarks>
internal sealed class DedupErrorFilter : IFilter<ExceptionReceiveContext>
{
    readonly ClaimCoordinator _coordinator;

    public DedupErrorFilter(ClaimCoordinator coordinator) => _coordinator = coordinator;

    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (IsTransient(context.Exception) && CanRequeue(context.InputAddress))
        {
            var delay = _coordinator.Options.RedeliveryDelay;
            if (delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(delay, context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: the transport requeues an unacknowledged message anyway.
                }
            }

            ExceptionDispatchInfo.Capture(context.Exception).Throw();
        }

        if (_coordinator.Options.RecordFaults && context.TryGetPayload<FailedClaims>(out var failed))
            await RecordFaultsAsync(failed, context.Exception).ConfigureAwait(false);

        await next.Send(context).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup-error");
        scope.Add("redeliveryDelay", _coordinator.Options.RedeliveryDelay);
        scope.Add("recordFaults", _coordinator.Options.RecordFaults);
    }

    async Task RecordFaultsAsync(FailedClaims failed, Exception exception)
    {
        var record = ReplyRecord.EncodeFault(exception);
        foreach (var (key, fingerprint) in failed.Fingerprints)
        {
            try
            {
                // A fresh claim: a copy that got the key in the meantime wins, and nothing is recorded.
                var acquisition = await _coordinator.AcquireAsync(key, fingerprint, CancellationToken.None).ConfigureAwait(false);
                if (acquisition.Claim is { } claim)
                {
                    await using (claim.ConfigureAwait(false))
                    {
                        if (await claim.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
                            _coordinator.Metrics.Outcome(DedupOutcomes.FaultRecorded);
                    }
                }
            }
            catch (DedupException recordFailure)
            {
                // The message still goes to the error queue; a duplicate then runs it again, as without the option.
                DedupLog.FaultNotRecorded(_coordinator.Logger, key, recordFailure);
            }
        }
    }

    static bool IsTransient(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DedupTransientException)
                return true;
        }

        return false;
    }

    internal static bool CanRequeue(Uri inputAddress) => !string.Equals(inputAddress.Scheme, "loopback", StringComparison.OrdinalIgnoreCase);
}
