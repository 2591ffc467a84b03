using Dedup.Worker.Ledger;
using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>Helpers the sample consumers share.</summary>
internal static class ConsumeContextExtensions
{
    /// <summary>The dedup claim this consumer runs under, as a ledger fence (empty when the message is not deduplicated).</summary>
    public static Fence Fence(this ConsumeContext context) =>
        context.GetDedupClaim() is { } claim ? new Fence(claim.Key, claim.Epoch) : default;
}
