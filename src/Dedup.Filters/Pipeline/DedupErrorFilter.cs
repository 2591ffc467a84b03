using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// With <see cref="DedupOptions.RecordFaults"/>, records a terminal fault for the keys whose consumers failed. It
/// wraps the endpoint's receive pipe, outside MassTransit's error pipe, and holds the failed claims of the delivery
/// (<see cref="FailedClaims"/>) until the error pipe has finished with the message: when it did without throwing (moved
/// it to <c>_error</c>, discarded it, or whatever the user configured), each held claim is completed with the fault, by
/// the owner that failed (fenced: no new claim, and no copy could claim the key in between); a fault the error pipe
/// rethrows is redelivered, so it is not terminal: the claims are released.
/// </summary>
/// <remarks>
/// Transient dedup failures never get here as faults: <see cref="DedupRedeliveryFilter"/> returns them to the broker.
/// </remarks>
internal sealed class DedupErrorFilter : IFilter<ReceiveContext>
{
    readonly DedupPipeline _pipeline;

    public DedupErrorFilter(DedupPipeline pipeline) => _pipeline = pipeline;

    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        var failed = context.GetOrAddPayload(() => new FailedClaims());
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        catch
        {
            await failed.ReleaseAllAsync(_pipeline.Metrics).ConfigureAwait(false);
            throw;
        }

        if (context.IsFaulted && context.TryGetPayload<DeliveryFault>(out var fault))
            await RecordFaultsAsync(failed.TakeAll(), fault.Exception).ConfigureAwait(false);
        else
            await failed.ReleaseAllAsync(_pipeline.Metrics).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup-record-faults");
        scope.Add("recordFaults", _pipeline.Options.RecordFaults);
    }

    async Task RecordFaultsAsync(ConsumerClaim[] claims, Exception exception)
    {
        if (claims.Length == 0)
            return;
        var record = ResultRecord.EncodeFault(exception);
        foreach (var claim in claims)
        {
            await using (claim.Active.ConfigureAwait(false))
            {
                try
                {
                    if (await claim.Active.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
                        _pipeline.Metrics.Outcome(DedupOutcomes.FaultRecorded);
                    else
                        _pipeline.Metrics.Outcome(DedupOutcomes.LeaseLost); // its lease was cut: the next copy takes the key over
                }
                catch (DedupException recordFailure)
                {
                    // The message still goes to the error queue; a duplicate then runs it again, as without the option.
                    DedupLog.FaultNotRecorded(_pipeline.Logger, claim.Key, recordFailure);
                }
            }
        }
    }

    /// <summary>False on MassTransit's in-memory transport, which drops a message whose receive pipe throws.</summary>
    internal static bool CanRequeue(Uri inputAddress) => !string.Equals(inputAddress.Scheme, "loopback", StringComparison.OrdinalIgnoreCase);
}
