using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Events;
using MassTransit.Metadata;

namespace Dedup.MassTransit;

/// <summary>
/// The consume filter: claims each message (scoped to endpoint + consumer), runs the consumer once, records
/// completion, and skips duplicates. Built on the same <see cref="ClaimCoordinator"/> as the executor.
/// </summary>
internal sealed class DedupFilter<TConsumer, TMessage> : IFilter<ConsumerConsumeContext<TConsumer, TMessage>>
    where TConsumer : class
    where TMessage : class
{
    static readonly string ConsumerName = typeof(TConsumer).FullName ?? typeof(TConsumer).Name;
    static readonly string MessageName = typeof(TMessage).FullName ?? typeof(TMessage).Name;

    static readonly IPipe<SendContext> ReplayPipe = Pipe.Execute<SendContext>(send => send.Headers.Set(ReplyCapture.ReplayHeader, true));

    readonly ClaimCoordinator _coordinator;
    readonly DedupOptions _options;
    readonly Func<ConsumeContext, string>? _customKey;
    ScopeCache? _scope; // replaced whole (one reference write), never torn between address and scope

    public DedupFilter(ClaimCoordinator coordinator)
    {
        _coordinator = coordinator;
        _options = coordinator.Options;
        _options.CustomKeys.TryGetValue(typeof(TMessage), out _customKey);
    }

    public async Task Send(ConsumerConsumeContext<TConsumer, TMessage> context, IPipe<ConsumerConsumeContext<TConsumer, TMessage>> next)
    {
        var metrics = _coordinator.Metrics;
        var logger = _coordinator.Logger;
        var delivery = context.ReceiveContext.TryGetPayload<DeliveryScope>(out var found) ? found : throw new InvalidOperationException($"The dedup filter of {ConsumerName} runs without its commit filter; configure dedup with cfg.UseDedup(context) (bus) or e.UseDedup(context) (endpoint).");
        var scope = Scope(context.ReceiveContext.InputAddress);
        var key = BuildKey(context, scope);
        if (key is null)
        {
            DedupLog.NoMessageId(logger, MessageName, context.ReceiveContext.InputAddress);
            metrics.Outcome(DedupOutcomes.NoKey);
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        if (delivery.Find(key) is { } earlier)
        {
            if (earlier.MessageType != typeof(TMessage))
            {
                // The same consumer takes this message as another of its types (polymorphic contracts, two contract
                // versions with one URN): one consumer, one key, one run per delivery.
                DedupLog.DuplicateSkipped(logger, key, earlier.Active.Claim.Epoch);
                metrics.Outcome(DedupOutcomes.Duplicate);
                return;
            }

            if (await SettleEarlierAttemptAsync(delivery, earlier).ConfigureAwait(false))
                return;
        }

        var fingerprint = _options.Fingerprints ? MessageFingerprint.Compute(context.ReceiveContext, scope) : string.Empty;
        using var activity = DedupMetrics.ActivitySource.StartActivity("dedup.consume");
        activity?.SetTag("dedup.key", key);

        Acquisition acquisition;
        try
        {
            acquisition = await _coordinator.AcquireAsync(key, fingerprint, context.CancellationToken).ConfigureAwait(false);
            if (acquisition.Result.Outcome == ClaimOutcome.Conflict
                && acquisition.Result.StoredFingerprint == MessageFingerprint.Compute(context.Message, MessageName, scope))
            {
                // A record written before fingerprints were taken from the received body (issue 9): the same payload.
                fingerprint = acquisition.Result.StoredFingerprint;
                acquisition = await _coordinator.AcquireAsync(key, fingerprint, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (DedupStoreUnavailableException exception) when (_options.StoreFailure == StoreFailurePolicy.FailOpen)
        {
            DedupLog.FailOpen(logger, key, exception);
            metrics.Outcome(DedupOutcomes.FailOpen);
            await next.Send(context).ConfigureAwait(false);
            return;
        }
        catch (DedupTransientException exception)
        {
            if (exception is DedupStoreUnavailableException)
                metrics.Outcome(DedupOutcomes.StoreError);
            delivery.Transient = exception;
            throw;
        }

        activity?.SetTag(DedupMetrics.OutcomeTag, acquisition.Result.Outcome.ToString());
        activity?.SetTag("dedup.epoch", acquisition.Result.Epoch);
        switch (acquisition.Result.Outcome)
        {
            case ClaimOutcome.Duplicate:
                // Returning without calling next: the consumer does not run, MassTransit still counts the message
                // as consumed and acknowledges it.
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
                return;

            case ClaimOutcome.Conflict:
                var stored = acquisition.Result.StoredFingerprint ?? string.Empty;
                DedupLog.Conflict(logger, key, fingerprint, stored, _options.OnConflict);
                metrics.Outcome(DedupOutcomes.Conflict);
                switch (_options.OnConflict)
                {
                    case ConflictPolicy.Skip:
                        return;
                    case ConflictPolicy.ProcessAsNew:
                        await next.Send(context).ConfigureAwait(false);
                        return;
                    default:
                        throw new DedupConflictException(key, fingerprint, stored);
                }
        }

        var active = acquisition.Claim!;
        var claim = new ConsumerClaim(delivery, key, typeof(TMessage), fingerprint, active, UnitOfWork(context), context.RequestId);
        delivery.Add(claim);
        delivery.Transient = null;
        ConsumerClaim.Current = claim;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, active.Claim.LeaseLost);
            await next.Send(new DedupConsumeContext<TConsumer, TMessage>(context, claim, linked.Token)).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            claim.State = ConsumerClaimState.Failed;
            delivery.Remove(claim);
            delivery.RecordFailure(claim, exception);
            await using (active.ConfigureAwait(false))
            {
                // Fenced by owner token and epoch: releases only if this claim still owns the key.
                await active.ReleaseAsync().ConfigureAwait(false);
            }

            if (active.IsLost)
            {
                metrics.Outcome(DedupOutcomes.LeaseLost);

                // The consumer's cancellation is not kept as the inner exception: MassTransit turns any exception whose
                // base is an OperationCanceledException into a ConsumerCanceledException, which would hide this one.
                var lost = new DedupLeaseLostException(key, active.Claim.Epoch, exception is OperationCanceledException ? null : exception);
                delivery.Transient = lost;
                delivery.RecordFailure(claim, lost);
                throw lost;
            }

            metrics.Outcome(DedupOutcomes.Released);
            if (_options.RecordFaults)
                context.ReceiveContext.GetOrAddPayload(() => new FailedClaims()).Fingerprints[key] = fingerprint;
            throw;
        }

        // Completed (or released) by the commit filter once the whole consume pipeline around this consumer finished.
        claim.FailureMark = delivery.FailureCount;
        claim.State = ConsumerClaimState.Succeeded;
    }

    /// <summary>
    /// The pipeline runs this consumer again within one delivery (a retry filter): the earlier attempt's consumer
    /// succeeded, but something after it failed. When that failure came from another consumer only, the earlier
    /// work stands: it is completed and this pass skips the consumer (returns true). Otherwise the earlier claim is
    /// released and the consumer runs again.
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
                var record = ReplyRecord.Encode(earlier.Replies, _options.MaxReplyBytes);
                if (await earlier.Active.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
                {
                    _coordinator.Metrics.Outcome(DedupOutcomes.First);
                    return true;
                }
            }

            await earlier.Active.ReleaseAsync().ConfigureAwait(false);
            _coordinator.Metrics.Outcome(DedupOutcomes.Released);
            return false;
        }
    }

    /// <summary>The outbox or transaction around this consumer, if MassTransit put one there.</summary>
    static object? UnitOfWork(ConsumeContext context)
    {
        if (context.TryGetPayload<global::MassTransit.Middleware.InMemoryOutbox.OutboxContext>(out var outbox))
            return outbox;
        if (context.TryGetPayload<global::MassTransit.Middleware.OutboxConsumeContext>(out var transactional))
            return transactional;
        return context.TryGetPayload<TransactionContext>(out var transaction) ? transaction : null;
    }

    async Task ReplayAsync(ConsumeContext<TMessage> context, string key, ReadOnlyMemory<byte> stored)
    {
        if (stored.IsEmpty || (context.RequestId is null && context.ResponseAddress is null))
            return;

        var record = ReplyRecord.Decode(stored);
        if (record.Fault is { } exceptions)
        {
            DedupLog.FaultReplayed(_coordinator.Logger, key);
            await context.RespondAsync<Fault<TMessage>>(new FaultEvent<TMessage>(context.Message, context.MessageId, HostMetadataCache.Host,
                exceptions.Select(e => e.ToExceptionInfo()), [.. context.SupportedMessageTypes])).ConfigureAwait(false);
            _coordinator.Metrics.Outcome(DedupOutcomes.Replayed);
            return;
        }

        if (record.TooLarge)
        {
            DedupLog.ReplyTooLarge(_coordinator.Logger, key, record.Size, _options.MaxReplyBytes);
            return;
        }

        // Sent to this duplicate's ResponseAddress with this duplicate's RequestId: the retrying requester gets it.
        foreach (var (message, type) in record.Messages())
            await context.RespondAsync(message, type, ReplayPipe).ConfigureAwait(false);
        _coordinator.Metrics.Outcome(DedupOutcomes.Replayed);
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("dedup");
        scope.Add("consumer", ConsumerName);
        scope.Add("keyPrefix", _options.KeyPrefix);
        scope.Add("lease", _options.Lease);
        scope.Add("retention", _options.Retention);
        scope.Add("key", _customKey is null ? "messageId" : "custom");
    }

    string? BuildKey(ConsumerConsumeContext<TConsumer, TMessage> context, string scope)
    {
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

    string Scope(Uri inputAddress)
    {
        var cached = _scope;
        if (cached is not null && cached.Address == inputAddress)
            return cached.Scope;

        // Endpoint + consumer type: each fan-out consumer processes a message once.
        var scope = DedupKey.Scope(string.Concat(inputAddress.AbsolutePath, "|", ConsumerName));
        _scope = new ScopeCache(inputAddress, scope);
        return scope;
    }

    sealed record ScopeCache(Uri Address, string Scope);
}
