using System.Runtime.ExceptionServices;
using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// The first filter of an endpoint's consume pipeline (a MassTransit pre-pipe filter, in front of retries, outboxes,
/// units of work and every consumer). It opens the <see cref="DeliveryScope"/> in which the consumers' dedup filters
/// claim, and settles their claims once the whole pipeline has finished, before the transport acknowledges:
/// a claim is completed (with its replies) only when everything around its consumer succeeded, and released when
/// anything that could undo its work failed (README, "When a claim completes").
/// </summary>
internal sealed class DedupCommitFilter : IFilter<ConsumeContext>
{
    readonly DedupPipeline _pipeline;

    public DedupCommitFilter(DedupPipeline pipeline) => _pipeline = pipeline;

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (context.ReceiveContext.TryGetPayload<DeliveryScope>(out _))
        {
            // Dedup on the bus and on the endpoint: the outer commit filter owns the delivery.
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        var scope = context.ReceiveContext.GetOrAddPayload(() => new DeliveryScope(context));
        DeliveryScope.Current = scope;
        try
        {
            await next.Send(context).ConfigureAwait(false);

            // Replies and other sends MassTransit runs in the background: a claim completes only after its own succeeded.
            await context.ConsumeCompleted.ConfigureAwait(false);

            if (scope.DeferredFailure is { } deferred)
                ExceptionDispatchInfo.Capture(deferred).Throw();
        }
        catch (Exception exception) when (scope.HasClaims)
        {
            await SettleAsync(scope, exception).ConfigureAwait(false);
            throw;
        }

        await SettleAsync(scope, null).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("dedup-commit");

    /// <summary>
    /// Completes the claims whose work stands and releases the others. A completion that fails transiently fails the
    /// delivery (it is redelivered), after every other claim was settled.
    /// </summary>
    async Task SettleAsync(DeliveryScope scope, Exception? failure)
    {
        var pending = scope.Pending();
        foreach (var claim in pending)
        {
            // A reply sent in the background may still be on its way when the pipeline returned: its outcome decides.
            await claim.TasksFinishedAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            if (claim.FailedTask() is { } replyFailure)
            {
                // Its own reply failed: this consumer's attempt failed, whatever the others did.
                claim.State = ConsumerClaimState.Failed;
                scope.RecordFailure(claim, replyFailure);
            }
        }

        DedupTransientException? completionFailure = null;
        foreach (var claim in pending)
        {
            var complete = claim.State == ConsumerClaimState.Succeeded
                           && (failure is null && !scope.Redelivered || scope.Stands(claim, failure));
            claim.State = ConsumerClaimState.Settled;
            scope.Remove(claim);
            await using (claim.Active.ConfigureAwait(false))
            {
                if (!complete)
                {
                    await claim.ReleaseAsync(_pipeline.Metrics).ConfigureAwait(false);
                    continue;
                }

                completionFailure ??= await CompleteAsync(claim).ConfigureAwait(false);
            }
        }

        if (failure is null && completionFailure is not null)
            throw completionFailure;
    }

    async Task<DedupTransientException?> CompleteAsync(ConsumerClaim claim)
    {
        var metrics = _pipeline.Metrics;
        var lostBefore = claim.Active.IsLost; // already logged by the claim when it noticed the loss
        bool completed;
        try
        {
            var record = ResultRecord.Encode(claim.Replies, _pipeline.Options.MaxReplyBytes);

            // Not the message's token: the work ran, so record it even while the bus stops.
            completed = await claim.Active.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false);
        }
        catch (DedupStoreUnavailableException exception)
        {
            metrics.Outcome(DedupOutcomes.StoreError);
            return exception;
        }
        catch (DedupNotReplicatedException exception)
        {
            // Recorded on the primary but not confirmed by the replicas (Dedup:Durability, counted by the store): not
            // acknowledged; the redelivery is answered as a duplicate once the replicas have the record.
            return exception;
        }

        if (!completed)
        {
            if (!lostBefore)
                DedupLog.LeaseLost(_pipeline.Logger, claim.Key, claim.Active.Claim.Epoch);
            metrics.Outcome(DedupOutcomes.LeaseLost);
            return new DedupLeaseLostException(claim.Key, claim.Active.Claim.Epoch);
        }

        metrics.Outcome(DedupOutcomes.First);
        return null;
    }
}
