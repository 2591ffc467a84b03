using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>
/// On every receive endpoint of a bus that uses dedup: installs the dedup error handling and records what the
/// endpoint's messages are delivered to (<see cref="DedupCoverage"/>).
/// </summary>
internal sealed class DedupEndpointConfigurationObserver : IEndpointConfigurationObserver
{
    readonly ClaimCoordinator _coordinator;
    readonly DedupCoverage _coverage;

    public DedupEndpointConfigurationObserver(ClaimCoordinator coordinator, DedupCoverage coverage)
    {
        _coordinator = coordinator;
        _coverage = coverage;
    }

    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        DedupErrorPipe.Configure(configurator, _coordinator);
        DedupCoverageObserver.Connect(configurator, _coverage, _coordinator.Options);
    }
}
