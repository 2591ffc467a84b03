using System.Diagnostics.CodeAnalysis;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Context;

namespace Dedup.Pipeline;

/// <summary>
/// The consume context a saga (and each message of a batch) sees while its message holds a claim: the message-level
/// counterpart of <see cref="DedupConsumeContext{TConsumer,TMessage}"/>. Its <see cref="CancellationToken"/> is also
/// cancelled when the lease is lost, it carries the <see cref="DedupClaim"/> for <c>GetDedupClaim()</c>, and it
/// tracks the consume tasks started under it, so the claim depends on its own replies only.
/// </summary>
internal sealed class DedupMessageConsumeContext<TMessage> : ConsumeContextProxy<TMessage>, IDedupClaimContext
    where TMessage : class
{
    readonly ConsumerClaim _owner;
    readonly CancellationToken _cancellationToken;

    public DedupMessageConsumeContext(ConsumeContext<TMessage> context, ConsumerClaim owner, CancellationToken cancellationToken)
        : base(context)
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

    // Answered here, not stored as a payload of the shared receive context: every owner of a message holds its own claim.
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
