using Dedup.Protocol;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>Adds the dedup filter to every saga and message type configured after it is connected.</summary>
internal sealed class DedupSagaConfigurationObserver : ISagaConfigurationObserver
{
    readonly DedupPipeline _pipeline;

    public DedupSagaConfigurationObserver(DedupPipeline pipeline) => _pipeline = pipeline;

    public void SagaConfigured<TSaga>(ISagaConfigurator<TSaga> configurator)
        where TSaga : class, ISaga
    {
    }

    public void StateMachineSagaConfigured<TInstance>(ISagaConfigurator<TInstance> configurator, SagaStateMachine<TInstance> stateMachine)
        where TInstance : class, ISaga, SagaStateMachineInstance
    {
    }

    public void SagaMessageConfigured<TSaga, TMessage>(ISagaMessageConfigurator<TSaga, TMessage> configurator)
        where TSaga : class, ISaga
        where TMessage : class
    {
        if (DedupCoverage.OfSaga<TMessage>(_pipeline.Options) != CoverageKind.Saga)
            return;

        // The message-level pipe of this saga/message pair runs before the repository; the pipe of the configurator
        // itself (SagaConsumeContext) runs after it, with the instance already loaded and locked.
        if (configurator is not ISagaMessageConfigurator<TMessage> messagePipe)
            throw new InvalidOperationException($"Dedup cannot reach the message pipe of saga {typeof(TSaga).Name} for {typeof(TMessage).Name} (MassTransit's saga configuration changed); exclude the type with DedupOptions.Exclude<{typeof(TMessage).Name}>() or report it.");
        messagePipe.AddPipeSpecification(new DedupSagaSpecification<TSaga, TMessage>(_pipeline));
    }
}
