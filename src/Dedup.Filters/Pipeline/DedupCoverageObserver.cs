using MassTransit;
using MassTransit.Courier.Contracts;

namespace Dedup.Pipeline;

/// <summary>
/// Records into <see cref="DedupCoverage"/> what one receive endpoint delivers its messages to: consumers, batch
/// consumers, sagas (covered), and job consumers, handlers, routing-slip activities, excluded types (not covered).
/// Connected to each endpoint (the configuration callbacks do not name their endpoint).
/// </summary>
internal sealed class DedupCoverageObserver :
    IConsumerConfigurationObserver,
    ISagaConfigurationObserver,
    IHandlerConfigurationObserver,
    IActivityConfigurationObserver
{
    readonly DedupCoverage _coverage;
    readonly DedupOptions _options;
    readonly Uri _inputAddress;

    DedupCoverageObserver(DedupCoverage coverage, DedupOptions options, Uri inputAddress)
    {
        _coverage = coverage;
        _options = options;
        _inputAddress = inputAddress;
    }

    public static void Connect(IReceiveEndpointConfigurator configurator, DedupCoverage coverage, DedupOptions options)
    {
        var observer = new DedupCoverageObserver(coverage, options, configurator.InputAddress);
        configurator.ConnectConsumerConfigurationObserver(observer);
        configurator.ConnectSagaConfigurationObserver(observer);
        configurator.ConnectHandlerConfigurationObserver(observer);
        configurator.ConnectActivityConfigurationObserver(observer);
    }

    public void ConsumerConfigured<TConsumer>(IConsumerConfigurator<TConsumer> configurator)
        where TConsumer : class
    {
    }

    public void ConsumerMessageConfigured<TConsumer, TMessage>(IConsumerMessageConfigurator<TConsumer, TMessage> configurator)
        where TConsumer : class
        where TMessage : class =>
        _coverage.Add(_inputAddress, typeof(TMessage), typeof(TConsumer), DedupCoverage.OfConsumer<TConsumer, TMessage>(_options));

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
        where TMessage : class =>
        _coverage.Add(_inputAddress, typeof(TMessage), typeof(TSaga), DedupCoverage.OfSaga<TMessage>(_options));

    public void HandlerConfigured<TMessage>(IHandlerConfigurator<TMessage> configurator)
        where TMessage : class =>
        _coverage.Add(_inputAddress, typeof(TMessage), null, CoverageKind.Handler);

    public void ActivityConfigured<TActivity, TArguments>(IExecuteActivityConfigurator<TActivity, TArguments> configurator, Uri compensateAddress)
        where TActivity : class, IExecuteActivity<TArguments>
        where TArguments : class =>
        _coverage.Add(_inputAddress, typeof(RoutingSlip), typeof(TActivity), CoverageKind.Activity);

    public void ExecuteActivityConfigured<TActivity, TArguments>(IExecuteActivityConfigurator<TActivity, TArguments> configurator)
        where TActivity : class, IExecuteActivity<TArguments>
        where TArguments : class =>
        _coverage.Add(_inputAddress, typeof(RoutingSlip), typeof(TActivity), CoverageKind.Activity);

    public void CompensateActivityConfigured<TActivity, TLog>(ICompensateActivityConfigurator<TActivity, TLog> configurator)
        where TActivity : class, ICompensateActivity<TLog>
        where TLog : class =>
        _coverage.Add(_inputAddress, typeof(RoutingSlip), typeof(TActivity), CoverageKind.Activity);
}
