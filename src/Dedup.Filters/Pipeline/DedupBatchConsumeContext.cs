using MassTransit;
using MassTransit.Context;

namespace Dedup.Pipeline;

/// <summary>
/// The consume context a batch consumer sees: its <c>Message</c> is the batch without duplicates, and its
/// <see cref="CancellationToken"/> is also cancelled when the lease of any message in it is lost.
/// </summary>
internal sealed class DedupBatchConsumeContext<TConsumer, TMessage> : ConsumerConsumeContextProxy<TConsumer, Batch<TMessage>>
    where TConsumer : class
    where TMessage : class
{
    readonly CancellationToken _cancellationToken;

    public DedupBatchConsumeContext(ConsumerConsumeContext<TConsumer, Batch<TMessage>> context, Batch<TMessage> batch, CancellationToken cancellationToken)
        : base(new MessageConsumeContext<Batch<TMessage>>(context, batch), context.Consumer)
    {
        _cancellationToken = cancellationToken;
    }

    public override CancellationToken CancellationToken => _cancellationToken;
}
