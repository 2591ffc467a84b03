using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Puts <see cref="DedupCommitFilter"/> in front of an endpoint's consume pipeline (a pre-pipe specification).</summary>
internal sealed class DedupCommitSpecification : IPipeSpecification<ConsumeContext>
{
    readonly DedupPipeline _pipeline;

    public DedupCommitSpecification(DedupPipeline pipeline) => _pipeline = pipeline;

    public void Apply(IPipeBuilder<ConsumeContext> builder) => builder.AddFilter(new DedupCommitFilter(_pipeline));

    public IEnumerable<ValidationResult> Validate() => [];
}
