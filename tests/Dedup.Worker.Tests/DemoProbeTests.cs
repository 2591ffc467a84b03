using Dedup.Worker.Consumers;
using Dedup.Worker.Demo;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// The demo's probe counts each delivery once: MassTransit reports a delivery twice (ReceiveFault from the error pipe,
/// then PostReceive) when it failed outside any consumer (an outbox flush, a reply sent in the background, a filter)
/// and was moved to the error queue, and the demo waits for a count of settled deliveries.
/// </summary>
public sealed class DemoProbeTests
{
    [Fact]
    public async Task ADeliveryThatFailedAfterItsConsumers_SettlesOnce()
    {
        await using var provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.DisableUsageTelemetry();
                x.AddHandler<ProbeMessage>((ConsumeContext<ProbeMessage> _) => Task.CompletedTask).Endpoint(e => e.Name = ChargePaymentConsumer.Queue);
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseFilter(new FailAfterConsumersFilter());
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var probe = new DemoProbe();
        harness.Bus.ConnectReceiveObserver(probe);

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{ChargePaymentConsumer.Queue}"));
        await endpoint.Send(new ProbeMessage(Fail: true));
        await endpoint.Send(new ProbeMessage(Fail: false));
        await probe.WhenSettled(2, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await harness.InactivityTask;

        Assert.Equal(2, harness.Consumed.Select<ProbeMessage>().Count());
        Assert.Equal(2, probe.Settled);
    }
}

public sealed record ProbeMessage(bool Fail);

/// <summary>Fails a <see cref="ProbeMessage"/> that asks for it after its consumers succeeded (as a failing outbox flush would).</summary>
sealed class FailAfterConsumersFilter : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        await next.Send(context);
        if (context.TryGetMessage<ProbeMessage>(out var message) && message.Message.Fail)
            throw new InvalidOperationException("failed after the consumers (test)");
    }

    public void Probe(ProbeContext context)
    {
    }
}
