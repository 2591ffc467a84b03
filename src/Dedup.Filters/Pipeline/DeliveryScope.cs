using Dedup.Diagnostics;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// One delivery of one message on a deduplicating endpoint: the claims its consumers took, the failures that went
/// through its pipeline, and whether MassTransit sent a copy of it back for redelivery. Created by
/// <see cref="DedupCommitFilter"/> in front of the whole consume pipeline, which completes or releases the claims
/// once that pipeline (outbox, unit of work, retries, every consumer) has finished.
/// </summary>
internal sealed class DeliveryScope
{
    static readonly AsyncLocal<DeliveryScope?> CurrentScope = new();

    readonly Lock _lock = new();
    readonly List<ConsumerClaim> _claims = [];
    readonly List<(ConsumerClaim? Origin, Exception Exception)> _failures = [];
    readonly Dictionary<string, Type> _entering = new(StringComparer.Ordinal);

    public DeliveryScope(ConsumeContext context)
    {
        MessageId = context.MessageId;
        OriginalMessageId = context.GetOriginalMessageId() ?? context.MessageId;
        RedeliveryCount = context.Headers.Get<int>(MessageHeaders.RedeliveryCount) ?? 0;
    }

    /// <summary>The delivery whose consume pipeline the current code runs in, if any.</summary>
    public static DeliveryScope? Current
    {
        get => CurrentScope.Value;
        set => CurrentScope.Value = value;
    }

    public Guid? MessageId { get; }

    /// <summary>The id the message is keyed by (<c>MT-OriginalMessageId</c> when MassTransit replaced the MessageId).</summary>
    public Guid? OriginalMessageId { get; }

    public int RedeliveryCount { get; }

    /// <summary>MassTransit sent a copy of this message back to be delivered again (delayed or scheduled redelivery).</summary>
    public bool Redelivered { get; set; }

    /// <summary>
    /// Why this message was taken out of the batch it was collected in (no key, a conflict, the store failing for it):
    /// its delivery fails with it once the batch has finished, so the other messages of the batch are not faulted.
    /// </summary>
    public Exception? DeferredFailure { get; set; }

    public bool HasClaims
    {
        get
        {
            lock (_lock)
                return _claims.Count > 0;
        }
    }

    public int FailureCount
    {
        get
        {
            lock (_lock)
                return _failures.Count;
        }
    }

    /// <summary>
    /// Enters <paramref name="key"/> for one pass of an owner's pipe, atomically, before anything is awaited: MassTransit
    /// runs the pipes of one message's types side by side (a consumer of a message and of its interface), and two
    /// passes of one owner must not both claim the key. Returns the claim this delivery already holds for the key, or
    /// the message type another pass is entering it as; when both are null the caller entered and must
    /// <see cref="Leave"/> once its claim is added (or not taken).
    /// </summary>
    public (ConsumerClaim? Claim, Type? Entering) Enter(string key, Type messageType)
    {
        lock (_lock)
        {
            if (_claims.Find(c => c.Key == key) is { } claim)
                return (claim, null);
            if (_entering.TryGetValue(key, out var entering))
                return (null, entering);
            _entering[key] = messageType;
            return (null, null);
        }
    }

    public void Leave(string key)
    {
        lock (_lock)
            _entering.Remove(key);
    }

    public void Add(ConsumerClaim claim)
    {
        lock (_lock)
        {
            _claims.Add(claim);
            _entering.Remove(claim.Key);
        }
    }

    public void Remove(ConsumerClaim claim)
    {
        lock (_lock)
            _claims.Remove(claim);
    }

    /// <summary>A failure went through the pipeline; <paramref name="origin"/> is the claim whose own consumer or reply failed, when known.</summary>
    public void RecordFailure(ConsumerClaim? origin, Exception exception)
    {
        lock (_lock)
            _failures.Add((origin, exception));
    }

    /// <summary>The claims whose consumers succeeded, waiting for the delivery to finish.</summary>
    public ConsumerClaim[] Pending()
    {
        lock (_lock)
            return [.. _claims.Where(c => c.State == ConsumerClaimState.Succeeded)];
    }

    /// <summary>
    /// Whether <paramref name="claim"/>'s work stands although the delivery failed (<paramref name="failure"/>, or
    /// an earlier attempt that a retry or redelivery swallowed when null): only when every failure that explains it
    /// came from another consumer's own work or reply, and no outbox or transaction around this consumer saw it.
    /// An unexplained failure (an outbox flush, a unit-of-work commit, a filter of the user's) releases the claim.
    /// </summary>
    public bool Stands(ConsumerClaim claim, Exception? failure)
    {
        List<(ConsumerClaim? Origin, Exception Exception)> explaining;
        lock (_lock)
        {
            explaining = failure is null
                ? _failures.Skip(claim.FailureMark).ToList()
                : _failures.Where(f => Explains(f.Exception, failure)).ToList();
        }

        return explaining.Count > 0
               && explaining.All(f => f.Origin is not null && f.Origin != claim && (claim.Unit is null || !ReferenceEquals(f.Origin.Unit, claim.Unit)));
    }

    static bool Explains(Exception recorded, Exception failure)
    {
        for (var current = failure; current is not null; current = current.InnerException)
        {
            if (ReferenceEquals(current, recorded))
                return true;
            if (current is AggregateException aggregate && aggregate.InnerExceptions.Any(inner => Explains(recorded, inner)))
                return true;
        }

        return false;
    }
}
