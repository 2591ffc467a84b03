using System.Diagnostics;
using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Events;
using MassTransit.Metadata;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Pipeline;

/// <summary>
/// The life of one message's claim for one owner (a consumer, a saga, a batch consumer) on an endpoint, shared by
/// every dedup filter: the key (scope = endpoint + owner type), the claim, a duplicate skipped and its reply replayed,
/// a conflict, the pending <see cref="ConsumerClaim"/> registered in the message's own <see cref="DeliveryScope"/>
/// (which <see cref="DedupCommitFilter"/> completes once the delivery finished), and the release when the work failed.
/// </summary>
internal sealed class ClaimLifecycle<TMessage>
    where TMessage : class
{
    static readonly string MessageName = typeof(TMessage).FullName ?? typeof(TMessage).Name;

    static readonly IPipe<SendContext> ReplayPipe = Pipe.Execute<SendContext>(send => send.Headers.Set(ReplyCapture.ReplayHeader, true));

    readonly DedupPipeline _pipeline;
    readonly DedupOptions _options;
    readonly Func<ConsumeContext, string>? _customKey;
    ScopeCache? _scope; // replaced whole (one reference write), never torn between address and scope

    /// <param name="pipeline">The claim protocol and what the filters share.</param>
    /// <param name="owner">The consumer or saga type the claim is scoped to.</param>
    public ClaimLifecycle(DedupPipeline pipeline, Type owner)
    {
        _pipeline = pipeline;
        _options = pipeline.Options;
        _customKey = _options.CustomKeyFor(typeof(TMessage));
        Owner = owner;
        OwnerName = owner.FullName ?? owner.Name;
    }

    public Type Owner { get; }

    public string OwnerName { get; }

    /// <summary>
    /// The whole life of one message: admits it, runs <paramref name="next"/> (with its claim and a token that is also
    /// cancelled when the lease is lost; with no claim when it runs unclaimed), and releases the claim when that fails.
    /// On success the claim stays pending in the delivery for the commit filter.
    /// </summary>
    public async Task RunAsync(ConsumeContext<TMessage> context, Func<ConsumerClaim?, CancellationToken, Task> next)
    {
        using var activity = DedupMetrics.ActivitySource.StartActivity(DedupTelemetry.ConsumeActivity);
        var admission = await AdmitAsync(context, Key(context), activity).ConfigureAwait(false);
        if (admission.Kind == AdmissionKind.Skipped)
            return;
        if (admission.Claim is not { } claim)
        {
            await next(null, context.CancellationToken).ConfigureAwait(false);
            return;
        }

        ConsumerClaim.Current = claim;
        claim.Active.WorkStarting();
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, claim.Active.Claim.LeaseLost);
            await next(claim, linked.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            if (await FailAsync(claim, context, exception).ConfigureAwait(false) is { } lost)
                throw lost;
            throw;
        }

        Succeeded(claim);
    }

    /// <summary>
    /// The message's key: its custom key when the type has one, else its MessageId; null when it has no MessageId
    /// and <see cref="DedupOptions.MissingMessageId"/> is <c>Process</c>.
    /// </summary>
    /// <exception cref="DedupKeyException">No MessageId (and the policy rejects it), or the key selector failed.</exception>
    public string? Key(ConsumeContext<TMessage> context)
    {
        var scope = Scope(context.ReceiveContext.InputAddress);
        if (_customKey is not null)
        {
            string custom;
            try
            {
                custom = _customKey(context);
            }
            catch (Exception exception)
            {
                throw new DedupKeyException($"The dedup key selector for {MessageName} threw: {exception.Message}", exception);
            }

            return DedupKey.ForCustomKey(_options.KeyPrefix, scope, custom);
        }

        var messageId = context.GetOriginalMessageId();
        if (messageId is { } id && id != Guid.Empty)
            return DedupKey.ForMessageId(_options.KeyPrefix, scope, id);

        if (_options.MissingMessageId == MissingMessageIdPolicy.Process)
            return null;

        throw new DedupKeyException(
            $"Message {MessageName} on {context.ReceiveContext.InputAddress} has no MessageId, so it cannot be deduplicated. Send it with a MessageId (AMQP message_id as a Guid), key the type with DedupOptions.KeyFor<T>(), or set DedupOptions.MissingMessageId = Process.");
    }

    /// <summary>
    /// Claims <paramref name="key"/> for the message. A duplicate is answered (stored reply replayed) and skipped; a
    /// claimed message gets a pending <see cref="ConsumerClaim"/> in its own delivery.
    /// </summary>
    /// <exception cref="DedupTransientException">The store failed or a copy in flight outlasted the wait (the delivery is marked transient).</exception>
    /// <exception cref="DedupConflictException">Another payload holds the key and <see cref="DedupOptions.OnConflict"/> is <c>Fault</c>.</exception>
    public async Task<Admission> AdmitAsync(ConsumeContext<TMessage> context, string? key, Activity? activity)
    {
        var metrics = _pipeline.Metrics;
        var logger = _pipeline.Logger;
        var delivery = context.ReceiveContext.TryGetPayload<DeliveryScope>(out var found) ? found : throw new InvalidOperationException($"The dedup filter of {OwnerName} runs without its commit filter; configure dedup with cfg.UseDedup(context) (bus) or e.UseDedup(context) (endpoint).");
        if (key is null)
        {
            DedupLog.NoMessageId(logger, MessageName, context.ReceiveContext.InputAddress);
            metrics.Outcome(DedupOutcomes.NoKey);
            return Admission.Unclaimed;
        }

        var (earlier, entering) = delivery.Enter(key, typeof(TMessage));
        if (entering is not null)
        {
            // Another pass of this owner (the message taken as another of its types, side by side) is claiming the
            // key: one owner, one key, one run per delivery.
            DedupLog.DuplicateSkipped(logger, key, 0);
            metrics.Outcome(DedupOutcomes.Duplicate);
            return Admission.Skipped;
        }

        if (earlier is not null)
        {
            if (earlier.State == ConsumerClaimState.Running && ConsumerClaim.Current == earlier)
            {
                // Dedup configured twice around this owner (on the bus and on its endpoint): the outer filter holds
                // the claim and settles it; this one only passes the message on.
                return Admission.Unclaimed;
            }

            if (earlier.MessageType != typeof(TMessage))
            {
                // The same owner takes this message as another of its types (polymorphic contracts, two contract
                // versions with one URN): one owner, one key, one run per delivery.
                DedupLog.DuplicateSkipped(logger, key, earlier.Active.Claim.Epoch);
                metrics.Outcome(DedupOutcomes.Duplicate);
                return Admission.Skipped;
            }

            if (await SettleEarlierAttemptAsync(delivery, earlier).ConfigureAwait(false))
                return Admission.Skipped;
            if (delivery.Enter(key, typeof(TMessage)) != (null, null))
                return Admission.Skipped;
        }

        try
        {
            // A retry of this owner after its failure: the failed attempt's claim was held for its fault, and is
            // released now that the message runs again (a claim after a release: the takeover check, if any, is asked).
            if (context.ReceiveContext.TryGetPayload<FailedClaims>(out var failed) && failed.Take(key) is { } held)
                await held.ReleaseAsync(_pipeline.Metrics).ConfigureAwait(false);

            return await ClaimAsync(context, delivery, key, activity).ConfigureAwait(false);
        }
        finally
        {
            delivery.Leave(key);
        }
    }

    async Task<Admission> ClaimAsync(ConsumeContext<TMessage> context, DeliveryScope delivery, string key, Activity? activity)
    {
        var metrics = _pipeline.Metrics;
        var logger = _pipeline.Logger;
        var scope = Scope(context.ReceiveContext.InputAddress);
        var fingerprint = _options.Fingerprints ? MessageFingerprint.Compute(context.ReceiveContext, scope) : string.Empty;
        activity?.SetTag(DedupTelemetry.KeyTag, key);

        Acquisition acquisition;
        try
        {
            acquisition = await _pipeline.Claims.AcquireAsync(key, fingerprint, context.CancellationToken).ConfigureAwait(false);
            if (acquisition.Result.Outcome == ClaimOutcome.Conflict
                && acquisition.Result.StoredFingerprint == MessageFingerprint.Compute(context.Message, MessageName, scope))
            {
                // A record written before fingerprints were taken from the received body (issue 9): the same payload.
                fingerprint = acquisition.Result.StoredFingerprint;
                acquisition = await _pipeline.Claims.AcquireAsync(key, fingerprint, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (DedupStoreUnavailableException exception) when (_options.StoreFailure == StoreFailurePolicy.FailOpen)
        {
            DedupLog.FailOpen(logger, key, exception);
            metrics.Outcome(DedupOutcomes.FailOpen);
            return Admission.Unclaimed;
        }
        catch (DedupTransientException exception)
        {
            if (exception is DedupStoreUnavailableException)
                metrics.Outcome(DedupOutcomes.StoreError);
            throw;
        }

        activity?.SetTag(DedupTelemetry.OutcomeTag, acquisition.Result.Outcome.ToString());
        activity?.SetTag(DedupTelemetry.EpochTag, acquisition.Result.Epoch);
        switch (acquisition.Result.Outcome)
        {
            case ClaimOutcome.Duplicate:
                // Not run: MassTransit still counts the message as consumed and acknowledges it.
                if (acquisition.Waited is { } waited)
                {
                    DedupLog.InFlightWaited(logger, key, (long)waited.TotalMilliseconds);
                    metrics.Outcome(DedupOutcomes.InFlightWaited);
                }
                else
                {
                    DedupLog.DuplicateSkipped(logger, key, acquisition.Result.Epoch);
                    metrics.Outcome(DedupOutcomes.Duplicate);
                }

                await ReplayAsync(context, key, acquisition.Result.Result).ConfigureAwait(false);
                return Admission.Skipped;

            case ClaimOutcome.Conflict:
                var stored = acquisition.Result.StoredFingerprint ?? string.Empty;
                DedupLog.Conflict(logger, key, fingerprint, stored, _options.OnConflict);
                metrics.Outcome(DedupOutcomes.Conflict);
                return _options.OnConflict switch
                {
                    ConflictPolicy.Skip => Admission.Skipped,
                    ConflictPolicy.ProcessAsNew => Admission.Unclaimed,
                    _ => throw new DedupConflictException(key, fingerprint, stored),
                };
        }

        if (acquisition.Result.MayFollowWork && await RecoveredAsync(context, key, acquisition).ConfigureAwait(false))
            return Admission.Skipped;

        var claim = new ConsumerClaim(delivery, key, typeof(TMessage), fingerprint, acquisition.Claim!, UnitOfWork(context), context.RequestId);
        delivery.Add(claim);
        return new Admission(AdmissionKind.Claimed, claim);
    }

    /// <summary>
    /// A takeover, or a claim after a release: when a check is registered for the message type (or a type it derives
    /// from), asks it whether the previous owner's work happened; if so, the claim is completed (its record marked recovered, with the check's
    /// reply) without running the owner, and the requester of this copy gets the reply. True when recovered.
    /// </summary>
    async Task<bool> RecoveredAsync(ConsumeContext<TMessage> context, string key, Acquisition acquisition)
    {
        if (_pipeline.Services is not { } services || TakeoverChecks<TMessage>.Find(services) is not { } check)
            return false;

        var active = acquisition.Claim!;
        var ask = new TakeoverAsk(key, acquisition.Result.PreviousEpoch, active.Claim.Epoch, Owner);
        TakeoverVerdict? verdict;
        try
        {
            verdict = await _pipeline.Claims.VerifyTakeoverAsync(active, ask.PreviousEpoch,
                cancellationToken => check(services, ask, context, cancellationToken),
                applied => ResultRecord.Encode(Reply(applied), _options.MaxReplyBytes, recovered: true),
                context.CancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await active.DisposeAsync().ConfigureAwait(false); // abandoned or lost: its lease was cut, nothing released
            throw;
        }

        if (verdict is null)
            return false; // not applied: the owner runs under this claim

        await active.DisposeAsync().ConfigureAwait(false);

        // Sent from the verdict, not from the record: a reply over MaxReplyBytes is not stored, but this requester gets it.
        if (verdict.Result is { } reply && (context.RequestId is not null || context.ResponseAddress is not null))
        {
            await context.RespondAsync(reply, reply.GetType(), ReplayPipe).ConfigureAwait(false);
            _pipeline.Metrics.Outcome(DedupOutcomes.Replayed);
        }

        return true;
    }

    /// <summary>The reply a takeover check returned, refused (like a failing check) when MassTransit could not send it.</summary>
    static (object Message, Type Type)[] Reply(TakeoverVerdict verdict)
    {
        if (verdict.Result is not { } reply)
            return [];
        var type = reply.GetType();
        if (!MessageTypeCache.IsValidMessageType(type))
            throw new InvalidOperationException($"The takeover check returned a reply of type {type}, which MassTransit cannot send: {MessageTypeCache.InvalidMessageTypeReason(type)}. Return the reply message the consumer sends.");
        return [(reply, type)];
    }

    /// <summary>The work under <paramref name="claim"/> returned: the claim waits for its delivery to finish.</summary>
    public static void Succeeded(ConsumerClaim claim)
    {
        claim.FailureMark = claim.Delivery.FailureCount;
        claim.State = ConsumerClaimState.Succeeded;
    }

    /// <summary>
    /// The work under <paramref name="claim"/> failed: releases the claim (fenced by owner token and epoch), or, when its
    /// fault is to be recorded, holds it for <see cref="DedupErrorFilter"/> (see <see cref="FailedClaims"/>). Returns the
    /// exception to throw instead when the lease was lost meanwhile (transient: the message is redelivered).
    /// </summary>
    public async Task<DedupLeaseLostException?> FailAsync(ConsumerClaim claim, ConsumeContext context, Exception exception)
    {
        var delivery = claim.Delivery;
        var active = claim.Active;
        claim.State = ConsumerClaimState.Failed;
        delivery.Remove(claim);
        delivery.RecordFailure(claim, exception);

        // A fault is recorded only for a message type without a takeover check: with one, the work may have happened
        // before the failure, and the next copy asks the check instead of being answered with the fault.
        if (!active.IsLost && _options.RecordFaults && context.ReceiveContext.TryGetPayload<FailedClaims>(out var failed)
            && (_pipeline.Services is not { } services || TakeoverChecks<TMessage>.Find(services) is null))
        {
            failed.Hold(claim);
            return null;
        }

        await claim.ReleaseAsync(_pipeline.Metrics).ConfigureAwait(false);
        if (!active.IsLost)
            return null;

        _pipeline.Metrics.Outcome(DedupOutcomes.LeaseLost);

        // The work's cancellation is not kept as the inner exception: MassTransit turns any exception whose base is an
        // OperationCanceledException into a ConsumerCanceledException, which would hide this one.
        var lost = new DedupLeaseLostException(claim.Key, active.Claim.Epoch, exception is OperationCanceledException ? null : exception);
        delivery.RecordFailure(claim, lost);
        return lost;
    }

    public void Probe(ProbeContext context, string ownerKind)
    {
        var scope = context.CreateFilterScope("dedup");
        scope.Add(ownerKind, OwnerName);
        scope.Add("keyPrefix", _options.KeyPrefix);
        scope.Add("lease", _options.Lease);
        scope.Add("retention", _options.Retention);
        scope.Add("key", _customKey is null ? "messageId" : "custom");
    }

    /// <summary>
    /// The pipeline runs this owner again within one delivery (a retry filter): the earlier attempt succeeded, but
    /// something after it failed. When that failure came from another consumer only, the earlier work stands: it is
    /// completed and this pass skips the owner (returns true). Otherwise the earlier claim is released and it runs again.
    /// </summary>
    async Task<bool> SettleEarlierAttemptAsync(DeliveryScope delivery, ConsumerClaim earlier)
    {
        delivery.Remove(earlier);
        if (earlier.State != ConsumerClaimState.Succeeded)
            return false;

        earlier.State = ConsumerClaimState.Settled;
        await using (earlier.Active.ConfigureAwait(false))
        {
            if (delivery.Stands(earlier, null))
            {
                var record = ResultRecord.Encode(earlier.Replies, _options.MaxReplyBytes);
                if (await earlier.Active.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
                {
                    _pipeline.Metrics.Outcome(DedupOutcomes.First);
                    return true;
                }
            }

            await earlier.ReleaseAsync(_pipeline.Metrics).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>The outbox or transaction around this message's work, if MassTransit put one there.</summary>
    static object? UnitOfWork(ConsumeContext context)
    {
        if (context.TryGetPayload<MassTransit.Middleware.InMemoryOutbox.OutboxContext>(out var outbox))
            return outbox;
        if (context.TryGetPayload<MassTransit.Middleware.OutboxConsumeContext>(out var transactional))
            return transactional;
        return context.TryGetPayload<TransactionContext>(out var transaction) ? transaction : null;
    }

    async Task ReplayAsync(ConsumeContext<TMessage> context, string key, ReadOnlyMemory<byte> stored)
    {
        if (stored.IsEmpty)
            return;

        var record = ResultRecord.Decode(stored);
        if (record.Fault is { } exceptions)
        {
            await ReplayFaultAsync(context, key, exceptions).ConfigureAwait(false);
            return;
        }

        if (context.RequestId is null && context.ResponseAddress is null)
            return;

        if (record.TooLarge)
        {
            DedupLog.ReplyTooLarge(_pipeline.Logger, key, record.Size, _options.MaxReplyBytes);
            return;
        }

        // Sent to this duplicate's ResponseAddress with this duplicate's RequestId: the retrying requester gets it.
        foreach (var (message, type) in record.Messages())
            await context.RespondAsync(message, type, ReplayPipe).ConfigureAwait(false);
        _pipeline.Metrics.Outcome(DedupOutcomes.Replayed);
    }

    /// <summary>
    /// A duplicate of a message whose fault was recorded gets the same <c>Fault&lt;T&gt;</c> where MassTransit sends a
    /// consumer's fault to a sender: its <c>FaultAddress</c>, else its <c>ResponseAddress</c> (with its RequestId). A
    /// fault MassTransit published (the message named neither) is not published again: subscribers had it once.
    /// </summary>
    async Task ReplayFaultAsync(ConsumeContext<TMessage> context, string key, IEnumerable<ResultRecord.StoredException> exceptions)
    {
        if ((context.FaultAddress ?? context.ResponseAddress) is not { } destination)
            return;

        DedupLog.FaultReplayed(_pipeline.Logger, key);
        var fault = new FaultEvent<TMessage>(context.Message, context.MessageId, HostMetadataCache.Host,
            exceptions.Select(e => e.ToExceptionInfo()), [.. context.SupportedMessageTypes]);
        var endpoint = await context.GetSendEndpoint(destination).ConfigureAwait(false);
        await endpoint.Send<Fault<TMessage>>(fault, Pipe.Execute<SendContext<Fault<TMessage>>>(send =>
        {
            send.RequestId = context.RequestId;
            send.Headers.Set(ReplyCapture.ReplayHeader, true);
        }), context.CancellationToken).ConfigureAwait(false);
        _pipeline.Metrics.Outcome(DedupOutcomes.Replayed);
    }

    string Scope(Uri inputAddress)
    {
        var cached = _scope;
        if (cached is not null && cached.Address == inputAddress)
            return cached.Scope;

        // Endpoint + owner type: each fan-out consumer or saga processes a message once. The operator commands build
        // the same scope (DedupRecords.KeyForMessage).
        var scope = DedupKey.EndpointScope(inputAddress, OwnerName);
        _scope = new ScopeCache(inputAddress, scope);
        return scope;
    }

    sealed record ScopeCache(Uri Address, string Scope);
}
