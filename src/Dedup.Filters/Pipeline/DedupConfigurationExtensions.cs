using Dedup;
using Dedup.Pipeline;
using Dedup.Protocol;
using Microsoft.Extensions.DependencyInjection;

// Extensions live in MassTransit's namespace, as MassTransit's own UseXxx do.
namespace MassTransit;

/// <summary>Puts the dedup filter in front of consumers, batch consumers and sagas (<c>cfg.UseDedup(context)</c>).</summary>
public static class DedupConfigurationExtensions
{
    /// <summary>
    /// Deduplicates every consumer, batch consumer and saga on every receive endpoint of the bus (call it before
    /// <c>ConfigureEndpoints</c>), and logs at start which endpoints and message types it covers and which it does not.
    /// Needs <c>services.AddDedup(...)</c> and a store (<c>AddDedupRedisStore</c> or <c>AddDedupInMemoryStore</c>).
    /// </summary>
    public static void UseDedup<T>(this T configurator, IRegistrationContext context)
        where T : IBusFactoryConfigurator
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var pipeline = Resolve(context);
        var coverage = new DedupCoverage();

        // Outermost first: transient failures (also a completion that failed transiently) go back to the broker from
        // in front of the commit filter, which settles the claims once the whole consume pipeline finished.
        configurator.AddPrePipeSpecification(new DedupRedeliverySpecification(pipeline));
        configurator.AddPrePipeSpecification(new DedupCommitSpecification(pipeline));
        configurator.ConnectConsumerConfigurationObserver(new DedupConsumerConfigurationObserver(pipeline));
        configurator.ConnectSagaConfigurationObserver(new DedupSagaConfigurationObserver(pipeline));
        configurator.ConnectEndpointConfigurationObserver(new DedupEndpointConfigurationObserver(pipeline, coverage));
        configurator.ConnectBusObserver(new DedupStartupLog(coverage, pipeline.Logger));
        configurator.ConnectSendObserver(new ReplyCapture());
    }

    /// <summary>
    /// Deduplicates every consumer, batch consumer and saga on this receive endpoint (call it before they are
    /// configured), and logs when the endpoint is ready which message types it covers and which it does not.
    /// </summary>
    public static void UseDedup(this IReceiveEndpointConfigurator configurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var pipeline = Resolve(context);
        var coverage = new DedupCoverage();
        DedupErrorPipe.Configure(configurator, pipeline); // its redelivery filter goes in front of the commit filter
        configurator.AddPrePipeSpecification(new DedupCommitSpecification(pipeline));
        configurator.ConnectConsumerConfigurationObserver(new DedupConsumerConfigurationObserver(pipeline));
        configurator.ConnectSagaConfigurationObserver(new DedupSagaConfigurationObserver(pipeline));
        DedupCoverageObserver.Connect(configurator, coverage, pipeline.Options);
        configurator.ConnectReceiveEndpointObserver(new DedupStartupLog(coverage, pipeline.Logger));
        configurator.ConnectReceiveEndpointObserver(new ReplyCaptureConnector());
    }

    /// <summary>
    /// The claim the current consumer holds (key, fencing epoch, lease-lost token), or null when the message is
    /// not deduplicated.
    /// </summary>
    public static DedupClaim? GetDedupClaim(this ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context is IDedupClaimContext claimContext)
            return claimContext.Claim;
        if (context.TryGetPayload<DedupClaim>(out var claim))
            return claim;

        // A ConsumeContext injected into a service the consumer calls: the claim of the consumer this code runs under.
        return ConsumerClaim.Current is { } current && current.Delivery.MessageId == context.MessageId ? current.Active.Claim : null;
    }

    static DedupPipeline Resolve(IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.GetService<DedupPipeline>()
               ?? throw new InvalidOperationException("UseDedup needs services.AddDedup(...) and a store (AddDedupRedisStore or AddDedupInMemoryStore) in the container that MassTransit uses.");
    }
}
