using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.MassTransit;

/// <summary>
/// Adds the dedup filter to every consumer and message type configured after it is connected: the consumer filter,
/// or for a batch consumer (<c>Batch&lt;T&gt;</c>) the batch filter, which claims each message of the batch.
/// </summary>
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
        if (typeof(TMessage).IsGenericType && typeof(TMessage).GetGenericTypeDefinition() == typeof(Batch<>))
        {
            // TMessage is Batch<T>; the batch filter is typed by T.
            var item = typeof(TMessage).GetGenericArguments()[0];
            if (_coordinator.Options.Excluded.Contains(item))
                return;
            var specification = typeof(DedupBatchSpecification<,>).MakeGenericType(typeof(TConsumer), item);
            configurator.AddPipeSpecification((IPipeSpecification<ConsumerConsumeContext<TConsumer, TMessage>>)Activator.CreateInstance(specification, _coordinator)!);
            return;
        }

        if (_coordinator.Options.Excluded.Contains(typeof(TMessage)))
            return;

        configurator.AddPipeSpecification(new DedupSpecification<TConsumer, TMessage>(_coordinator));
    }
}
