using Dedup.Protocol;
using MassTransit;
using MassTransit.Middleware;

namespace Dedup.MassTransit;

/// <summary>The error pipe of an endpoint that uses dedup.</summary>
internal static class DedupErrorPipe
{
    /// <summary>
    /// Transient dedup faults go back to the broker; everything else gets MassTransit's default (a fault event,
    /// then the <c>_error</c> queue). MassTransit adds its defaults only to an empty error pipe, so they are added
    /// here explicitly after the dedup filter.
    /// </summary>
    public static void Configure(IReceiveEndpointConfigurator configurator, ClaimCoordinator coordinator) =>
        configurator.ConfigureError(x =>
        {
            x.UseFilter(new DedupErrorFilter(coordinator));
            x.UseFilter(new GenerateFaultFilter());
            x.UseFilter(new ErrorTransportFilter());
        });
}
