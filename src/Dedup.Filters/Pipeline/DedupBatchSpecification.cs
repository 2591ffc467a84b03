using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Adds <see cref="DedupBatchFilter{TConsumer,TMessage}"/> to a batch consumer's pipe.</summary>
internal sealed class DedupBatchSpecification<TConsumer, TMessage> : IPipeSpecification<ConsumerConsumeContext<TConsumer, Batch<TMessage>>>
    where TConsumer : class
    where TMessage : class
{
    readonly DedupPipeline _pipeline;

    public DedupBatchSpecification(DedupPipeline pipeline) => _pipeline = pipeline;

    public void Apply(IPipeBuilder<ConsumerConsumeContext<TConsumer, Batch<TMessage>>> builder) =>
        builder.AddFilter(new DedupBatchFilter<TConsumer, TMessage>(_pipeline));

    public IEnumerable<ValidationResult> Validate() => [];
}
