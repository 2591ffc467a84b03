using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>
/// On every receive endpoint of a bus that uses dedup: installs the dedup handling of transient failures (not on the
/// bus endpoint) and records what the endpoint's messages are delivered to (<see cref="DedupCoverage"/>).
/// </summary>
internal sealed class DedupEndpointConfigurationObserver : IEndpointConfigurationObserver
{
    readonly DedupPipeline _pipeline;
    readonly DedupCoverage _coverage;

    public DedupEndpointConfigurationObserver(DedupPipeline pipeline, DedupCoverage coverage)
    {
        _pipeline = pipeline;
        _coverage = coverage;
    }

    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        // The bus endpoint (the temporary queue that receives responses) has no configured consumers, so nothing on it
        // is deduplicated (consumers connected to it at run time do not get the dedup filter either), and its own
        // error handling (discard faulted messages) stays as MassTransit set it.
        if (configurator is not IEndpointConfiguration { IsBusEndpoint: true })
            DedupErrorPipe.Configure(configurator, _pipeline);
        DedupCoverageObserver.Connect(configurator, _coverage, _pipeline.Options);
    }
}
