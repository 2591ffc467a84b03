using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// With <see cref="DedupOptions.RecordFaults"/>, records a terminal fault for the keys whose consumers failed. It
/// wraps the endpoint's receive pipe, outside MassTransit's error pipe, and records only when the error pipe has
/// finished with the message without throwing (moved it to <c>_error</c>, discarded it, or whatever the user
/// configured): a fault the error pipe rethrows is redelivered, so it is not terminal and nothing is recorded.
/// </summary>
/// <remarks>
/// Transient dedup failures never get here as faults: <see cref="DedupRedeliveryFilter"/> returns them to the broker.
/// </remarks>
internal sealed class DedupErrorFilter : IFilter<ReceiveContext>
{
    readonly ClaimCoordinator _coordinator;

    public DedupErrorFilter(ClaimCoordinator coordinator) => _coordinator = coordinator;

    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        await next.Send(context).ConfigureAwait(false);

        if (context.IsFaulted && context.TryGetPayload<FailedClaims>(out var failed) && context.TryGetPayload<DeliveryFault>(out var fault))
            await RecordFaultsAsync(failed, fault.Exception).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup-record-faults");
        scope.Add("recordFaults", _coordinator.Options.RecordFaults);
    }

    async Task RecordFaultsAsync(FailedClaims failed, Exception exception)
    {
        var record = ResultRecord.EncodeFault(exception);
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

    /// <summary>False on MassTransit's in-memory transport, which drops a message whose receive pipe throws.</summary>
    internal static bool CanRequeue(Uri inputAddress) => !string.Equals(inputAddress.Scheme, "loopback", StringComparison.OrdinalIgnoreCase);
}
