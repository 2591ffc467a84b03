using MassTransit;

namespace Dedup.MassTransit;

/// <summary>Installs the dedup error handling on every receive endpoint of a bus that uses dedup.</summary>
internal sealed class DedupEndpointConfigurationObserver : IEndpointConfigurationObserver
{
    readonly DedupOptions _options;

    public DedupEndpointConfigurationObserver(DedupOptions options) => _options = options;

    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator => DedupErrorPipe.Configure(configurator, _options);
}
