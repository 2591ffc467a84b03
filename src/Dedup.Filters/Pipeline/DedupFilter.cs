using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// The consume filter: claims each message (scoped to endpoint + consumer), runs the consumer once, and skips
/// duplicates; the claim completes in <see cref="DedupCommitFilter"/> once the whole delivery finished. The claim's
/// life is <see cref="ClaimLifecycle{TMessage}"/>, shared with the saga and batch filters.
/// </summary>
internal sealed class DedupFilter<TConsumer, TMessage> : IFilter<ConsumerConsumeContext<TConsumer, TMessage>>
    where TConsumer : class
    where TMessage : class
{
    readonly ClaimLifecycle<TMessage> _claims;

    public DedupFilter(DedupPipeline pipeline) => _claims = new ClaimLifecycle<TMessage>(pipeline, typeof(TConsumer));

    public Task Send(ConsumerConsumeContext<TConsumer, TMessage> context, IPipe<ConsumerConsumeContext<TConsumer, TMessage>> next) =>
        _claims.RunAsync(context, (claim, cancellationToken) =>
            next.Send(claim is null ? context : new DedupConsumeContext<TConsumer, TMessage>(context, claim, cancellationToken)));

    public void Probe(ProbeContext context) => _claims.Probe(context, "consumer");
}
