using System.Diagnostics.CodeAnalysis;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Context;

namespace Dedup.Pipeline;

/// <summary>
/// The consume context the consumer sees while it owns a claim: its <see cref="CancellationToken"/> is also
/// cancelled when the lease is lost, it carries the <see cref="DedupClaim"/> (key, fencing epoch), and it tracks the
/// consume tasks the consumer starts (a reply sent without awaiting it), so the claim depends on its own replies only.
/// Replies themselves are recorded by <see cref="ReplyCapture"/>, once each, whatever overload sent them.
/// </summary>
internal sealed class DedupConsumeContext<TConsumer, TMessage> : ConsumerConsumeContextProxy<TConsumer, TMessage>, IDedupClaimContext
    where TConsumer : class
    where TMessage : class
{
    readonly ConsumerClaim _owner;
    readonly CancellationToken _cancellationToken;

    public DedupConsumeContext(ConsumerConsumeContext<TConsumer, TMessage> context, ConsumerClaim owner, CancellationToken cancellationToken)
        : base(context, context.Consumer)
    {
        _owner = owner;
        _cancellationToken = cancellationToken;
    }

    public DedupClaim Claim => _owner.Active.Claim;

    public override CancellationToken CancellationToken => _cancellationToken;

    public override void AddConsumeTask(Task task)
    {
        _owner.Track(task);
        base.AddConsumeTask(task);
    }

    // The claim is answered here, not stored as a payload of the shared receive context: two consumers of one
    // message on one endpoint each hold their own claim.
    public override bool TryGetPayload<T>([NotNullWhen(true)] out T payload)
        where T : class
    {
        if (Claim is T claim)
        {
            payload = claim;
            return true;
        }

        return base.TryGetPayload(out payload);
    }
}

/// <summary>A context that carries a dedup claim.</summary>
internal interface IDedupClaimContext
{
    DedupClaim Claim { get; }
}
