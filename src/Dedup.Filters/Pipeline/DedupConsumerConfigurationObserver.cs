using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>
/// Adds the dedup filter to every consumer and message type configured after it is connected: the consumer filter,
/// or for a batch consumer (<c>Batch&lt;T&gt;</c>) the batch filter, which claims each message of the batch. Excluded
/// types and job consumers get none (<see cref="DedupCoverage.OfConsumer{TConsumer,TMessage}"/>): a job runs after the
/// delivery that started it was acknowledged, so no delivery could complete its claim.
/// </summary>
internal sealed class DedupConsumerConfigurationObserver : IConsumerConfigurationObserver
{
    readonly DedupPipeline _pipeline;

    public DedupConsumerConfigurationObserver(DedupPipeline pipeline) => _pipeline = pipeline;

    public void ConsumerConfigured<TConsumer>(IConsumerConfigurator<TConsumer> configurator)
        where TConsumer : class
    {
    }

    public void ConsumerMessageConfigured<TConsumer, TMessage>(IConsumerMessageConfigurator<TConsumer, TMessage> configurator)
        where TConsumer : class
        where TMessage : class
    {
        switch (DedupCoverage.OfConsumer<TConsumer, TMessage>(_pipeline.Options))
        {
            case CoverageKind.Consumer:
                configurator.AddPipeSpecification(new DedupSpecification<TConsumer, TMessage>(_pipeline));
                break;
            case CoverageKind.Batch:
                // TMessage is Batch<T>; the batch filter is typed by T.
                var specification = typeof(DedupBatchSpecification<,>).MakeGenericType(typeof(TConsumer), DedupCoverage.BatchItemType(typeof(TMessage))!);
                configurator.AddPipeSpecification((IPipeSpecification<ConsumerConsumeContext<TConsumer, TMessage>>)Activator.CreateInstance(specification, _pipeline)!);
                break;
        }
    }
}
