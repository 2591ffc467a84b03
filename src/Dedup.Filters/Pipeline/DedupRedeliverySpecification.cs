using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Puts a <see cref="DedupRedeliveryFilter"/> (one per endpoint) in front of an endpoint's consume pipe.</summary>
internal sealed class DedupRedeliverySpecification : IPipeSpecification<ConsumeContext>
{
    readonly DedupPipeline _pipeline;

    public DedupRedeliverySpecification(DedupPipeline pipeline) => _pipeline = pipeline;

    public void Apply(IPipeBuilder<ConsumeContext> builder) => builder.AddFilter(new DedupRedeliveryFilter(_pipeline));

    public IEnumerable<ValidationResult> Validate() => [];
}
