using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Puts a <see cref="DedupRedeliveryFilter"/> (one per endpoint) in front of an endpoint's consume pipe.</summary>
internal sealed class DedupRedeliverySpecification : IPipeSpecification<ConsumeContext>
{
    readonly ClaimCoordinator _coordinator;

    public DedupRedeliverySpecification(ClaimCoordinator coordinator) => _coordinator = coordinator;

    public void Apply(IPipeBuilder<ConsumeContext> builder) => builder.AddFilter(new DedupRedeliveryFilter(_coordinator));

    public IEnumerable<ValidationResult> Validate() => [];
}
