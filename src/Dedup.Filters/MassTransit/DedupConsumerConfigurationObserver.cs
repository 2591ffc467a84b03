using Dedup.Protocol;
using MassTransit;

namespace Dedup.MassTransit;

/// <summary>Adds the dedup filter to every consumer and message type configured after it is connected.</summary>
internal sealed class DedupConsumerConfigurationObserver : IConsumerConfigurationObserver
{
    readonly ClaimCoordinator _coordinator;

    public DedupConsumerConfigurationObserver(ClaimCoordinator coordinator) => _coordinator = coordinator;

    public void ConsumerConfigured<TConsumer>(IConsumerConfigurator<TConsumer> configurator)
        where TConsumer : class
    {
    }

    public void ConsumerMessageConfigured<TConsumer, TMessage>(IConsumerMessageConfigurator<TConsumer, TMessage> configurator)
        where TConsumer : class
        where TMessage : class
    {
        if (_coordinator.Options.Excluded.Contains(typeof(TMessage)))
            return;

        configurator.AddPipeSpecification(new DedupSpecification<TConsumer, TMessage>(_coordinator));
    }
}
