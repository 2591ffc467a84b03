using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Adds <see cref="DedupSagaFilter{TSaga,TMessage}"/> to one saga's message pipe for one message type.</summary>
internal sealed class DedupSagaSpecification<TSaga, TMessage> : IPipeSpecification<ConsumeContext<TMessage>>
    where TSaga : class, ISaga
    where TMessage : class
{
    readonly DedupPipeline _pipeline;

    public DedupSagaSpecification(DedupPipeline pipeline) => _pipeline = pipeline;

    public void Apply(IPipeBuilder<ConsumeContext<TMessage>> builder) => builder.AddFilter(new DedupSagaFilter<TSaga, TMessage>(_pipeline));

    public IEnumerable<ValidationResult> Validate() => [];
}
