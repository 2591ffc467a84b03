using MassTransit;
using MassTransit.Serialization;

namespace Dedup.Pipeline;

/// <summary>
/// Records the replies a deduplicated consumer sends, whatever path they take: any <c>RespondAsync</c> overload on
/// the consumer's context, the ConsumeContext injected into a service the consumer calls, or an outbox that sends
/// them after the consumer returned. A send observer sees each reply once, after the transport took it; the reply
/// belongs to the consumer whose claim the current code runs under (or, for an outbox flushing after the consumer,
/// to the claims of the delivery that answer this request). It also notices a copy of the message that MassTransit
/// sends back for a later redelivery, so the delivery's claims are released rather than completed.
/// </summary>
internal sealed class ReplyCapture : ISendObserver
{
    /// <summary>The header that marks a replayed reply, which is never recorded again.</summary>
    public const string ReplayHeader = "Dedup-Replay";

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class
    {
        if (DeliveryScope.Current is not { } scope)
            return Task.CompletedTask;

        // A copy of this message sent back to be delivered again (delayed or scheduled redelivery, context.Redeliver),
        // under the same MessageId or a new one that carries the original in MT-OriginalMessageId.
        var original = context.Headers.Get<Guid>(MessageHeaders.OriginalMessageId) ?? context.MessageId;
        if (original == scope.OriginalMessageId && context.Headers.Get<int>(MessageHeaders.RedeliveryCount) is { } count && count > scope.RedeliveryCount)
        {
            scope.Redelivered = true;
            return Task.CompletedTask;
        }

        if (context.RequestId is not { } requestId || context.Message is Fault || context.Headers.TryGetHeader(ReplayHeader, out _))
            return Task.CompletedTask;

        if (ConsumerClaim.Current is { } claim && claim.Delivery == scope)
        {
            if (claim.RequestId == requestId && Reply(context) is var (message, type))
                claim.AddReply(context.MessageId, message, type);
            return Task.CompletedTask;
        }

        // Sent outside any consumer's flow (an outbox flushing after the consumers returned).
        foreach (var pending in scope.Pending())
        {
            if (pending.RequestId == requestId && Reply(context) is var (message, type))
                pending.AddReply(context.MessageId, message, type);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// The reply as its own type: the message sent, or, when a transactional outbox sends the reply's stored bytes
    /// (<see cref="SerializedMessageBody"/>), the message read back from them; null when they cannot be read (nothing is
    /// recorded, and a duplicate request gets no reply, as without dedup).
    /// </summary>
    static (object Message, Type Type)? Reply<T>(SendContext<T> context)
        where T : class =>
        context is SendContext<SerializedMessageBody> serialized ? SerializedReply.Read(serialized) : (context.Message, typeof(T));

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class
    {
        if (ConsumerClaim.Current is { } claim && context.RequestId is { } requestId && claim.RequestId == requestId)
            claim.Delivery.RecordFailure(claim, exception);
        return Task.CompletedTask;
    }
}
