using System.Runtime.ExceptionServices;
using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// The dedup filter of a batch consumer (<c>IConsumer&lt;Batch&lt;T&gt;&gt;</c>). Each message of the batch is claimed
/// under its own key (endpoint + consumer, its own MessageId), exactly as if a consumer took it alone; duplicates are
/// taken out of the batch, and the consumer does not run when none is left. The claims are registered in each
/// message's own delivery: MassTransit holds every collected message's delivery open until the batch consumer has
/// finished (each one awaits the batch), so each message's <see cref="DedupCommitFilter"/> completes its claim after
/// the batch succeeded and before that message is acknowledged. When the batch consumer fails, every claim is released.
/// </summary>
/// <remarks>
/// A message that cannot be admitted on its own (no MessageId, a conflict, the store failing for it) is taken out of
/// the batch and its own delivery fails with that exception once the batch has finished, so one bad message does not
/// fault the others. Replies a batch consumer sends belong to no single message and are not recorded.
/// </remarks>
internal sealed class DedupBatchFilter<TConsumer, TMessage> : IFilter<ConsumerConsumeContext<TConsumer, Batch<TMessage>>>
    where TConsumer : class
    where TMessage : class
{
    readonly ClaimLifecycle<TMessage> _claims;
    readonly DedupMetrics _metrics;

    public DedupBatchFilter(DedupPipeline pipeline)
    {
        _claims = new ClaimLifecycle<TMessage>(pipeline, typeof(TConsumer));
        _metrics = pipeline.Metrics;
    }

    public async Task Send(ConsumerConsumeContext<TConsumer, Batch<TMessage>> context, IPipe<ConsumerConsumeContext<TConsumer, Batch<TMessage>>> next)
    {
        // The batch runs outside any one message's flow: nothing sent from it is attributed to a single delivery.
        DeliveryScope.Current = null;
        ConsumerClaim.Current = null;
        using var activity = DedupMetrics.ActivitySource.StartActivity(DedupTelemetry.BatchActivity);
        activity?.SetTag(DedupTelemetry.BatchSizeTag, context.Message.Length);

        var admitted = await AdmitAsync(context.Message).ConfigureAwait(false);
        activity?.SetTag(DedupTelemetry.BatchAdmittedTag, admitted.Count);
        if (admitted.Count == 0)
            return; // every message is a duplicate: each is acknowledged when the batch returns

        var claims = admitted.Where(a => a.Claim is not null).Select(a => a.Claim!).ToArray();
        foreach (var claim in claims)
            claim.Active.WorkStarting();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource([context.CancellationToken, .. claims.Select(c => c.Active.Claim.LeaseLost)]);
        ConsumeContext<TMessage>[] messages =
            [.. admitted.Select(a => a.Claim is { } claim ? new DedupMessageConsumeContext<TMessage>(a.Message, claim, linked.Token) : a.Message)];
        try
        {
            await next.Send(new DedupBatchConsumeContext<TConsumer, TMessage>(context, new DedupBatch<TMessage>(context.Message, messages), linked.Token))
                .ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            DedupLeaseLostException? lost = null;
            foreach (var (message, claim) in admitted)
            {
                if (claim is not null && await _claims.FailAsync(claim, message, exception).ConfigureAwait(false) is { } lostClaim)
                    lost ??= lostClaim;
            }

            if (lost is null)
                throw;

            // The whole batch fails with it (transient), so every message goes back to the broker and none gets a fault.
            throw lost;
        }

        foreach (var claim in claims)
            ClaimLifecycle<TMessage>.Succeeded(claim);
    }

    public void Probe(ProbeContext context) => _claims.Probe(context, "batchConsumer");

    /// <summary>Claims every message of the batch at once (one round trip each, concurrently); returns those to run.</summary>
    async Task<List<(ConsumeContext<TMessage> Message, ConsumerClaim? Claim)>> AdmitAsync(Batch<TMessage> batch)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var admissions = new List<(ConsumeContext<TMessage> Message, Task<Admission> Admission)>(batch.Length);
        foreach (var message in batch)
        {
            string? key;
            try
            {
                key = _claims.Key(message);
            }
            catch (DedupKeyException exception)
            {
                Defer(message, exception);
                continue;
            }

            if (key is not null && !keys.Add(key))
            {
                // Keyed like an earlier message of this batch (a custom key): that one runs for both, and MassTransit
                // acknowledges or fails this one together with it.
                _metrics.Outcome(DedupOutcomes.Duplicate);
                continue;
            }

            admissions.Add((message, AdmitOrDeferAsync(message, key)));
        }

        await Task.WhenAll(admissions.Select(a => a.Admission)).ConfigureAwait(false);
        return [.. admissions.Where(a => a.Admission.Result.Kind != AdmissionKind.Skipped).Select(a => (a.Message, a.Admission.Result.Claim))];
    }

    async Task<Admission> AdmitOrDeferAsync(ConsumeContext<TMessage> message, string? key)
    {
        try
        {
            var admission = await _claims.AdmitAsync(message, key, null).ConfigureAwait(false);
            if (message.ReceiveContext.TryGetPayload<DeliveryScope>(out var delivery))
                delivery.DeferredFailure = null; // an earlier attempt of this batch (a retry) could not admit it
            return admission;
        }
        catch (Exception exception) when (message.ReceiveContext.TryGetPayload<DeliveryScope>(out _))
        {
            Defer(message, exception);
            return Admission.Skipped;
        }
    }

    /// <summary>Takes <paramref name="message"/> out of the batch; its own delivery fails with <paramref name="exception"/>.</summary>
    static void Defer(ConsumeContext<TMessage> message, Exception exception)
    {
        if (!message.ReceiveContext.TryGetPayload<DeliveryScope>(out var delivery))
            ExceptionDispatchInfo.Throw(exception);
        delivery.DeferredFailure = exception;
    }
}
