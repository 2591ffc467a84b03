using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>
/// The dedup filter of a saga or state machine saga, on the saga's message pipe before the saga repository: a
/// duplicate is skipped (and its stored reply replayed) without loading, locking or changing the instance. The claim
/// is scoped to endpoint + saga type and lives as a consumer's does (<see cref="ClaimLifecycle{TMessage}"/>): it
/// completes once the delivery finished and is released when the saga (or the repository) fails.
/// </summary>
internal sealed class DedupSagaFilter<TSaga, TMessage> : IFilter<ConsumeContext<TMessage>>
    where TSaga : class, ISaga
    where TMessage : class
{
    readonly ClaimLifecycle<TMessage> _claims;

    public DedupSagaFilter(DedupPipeline pipeline) => _claims = new ClaimLifecycle<TMessage>(pipeline, typeof(TSaga));

    public Task Send(ConsumeContext<TMessage> context, IPipe<ConsumeContext<TMessage>> next) =>
        _claims.RunAsync(context, (claim, cancellationToken) =>
            next.Send(claim is null ? context : new DedupMessageConsumeContext<TMessage>(context, claim, cancellationToken)));

    public void Probe(ProbeContext context) => _claims.Probe(context, "saga");
}
