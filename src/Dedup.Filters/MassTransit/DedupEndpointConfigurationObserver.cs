using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>Installs the dedup error handling on every receive endpoint of a bus that uses dedup.</summary>
internal sealed class DedupEndpointConfigurationObserver : IEndpointConfigurationObserver
{
    readonly ClaimCoordinator _coordinator;

    public DedupEndpointConfigurationObserver(ClaimCoordinator coordinator) => _coordinator = coordinator;

    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator => DedupErrorPipe.Configure(configurator, _coordinator);
}
