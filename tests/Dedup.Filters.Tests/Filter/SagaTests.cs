using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>
/// Sagas and state machine sagas (issue 9, item 9): an event is claimed before the saga repository (scope = endpoint
/// + saga type), so a copy with the same MessageId is not handled again.
/// </summary>
public abstract class SagaTests : BusTestBase
{
    Task<TestBus> StartStateMachineAsync() =>
        StartAsync(consumers: x => x.AddSagaStateMachine<PaymentStateMachine, PaymentState>().InMemoryRepository());

    Task<TestBus> StartSagaAsync() => StartAsync(consumers: x => x.AddSaga<RefundSaga>().InMemoryRepository());

    // Received, not consumed: a copy skipped before the saga repository reaches no consumer the harness observes.
    static async Task SendTwiceAsync(TestBus bus, object message, Guid messageId)
    {
        await Publish(bus, message, messageId);
        await bus.Deliveries.ReceivedAsync(messageId, 1);
        await Publish(bus, message, messageId);
        await bus.Deliveries.ReceivedAsync(messageId, 2);
    }

    static int Captures(TestBus bus, Guid paymentId) =>
        bus.Harness.GetSagaStateMachineHarness<PaymentStateMachine, PaymentState>().Sagas.Contains(paymentId)?.Captures ?? 0;

    static int Refunds(TestBus bus, Guid id) => bus.Harness.GetSagaHarness<RefundSaga>().Sagas.Contains(id)?.Refunds ?? 0;

    [Fact]
    public async Task StateMachineSaga_SameEventTwiceWithOneMessageId_IsHandledOnce()
    {
        await using var bus = await StartStateMachineAsync();
        var paymentId = Guid.NewGuid();

        await SendTwiceAsync(bus, new PaymentCaptured(paymentId), Guid.NewGuid());

        Assert.Equal(1, Captures(bus, paymentId));
    }

    [Fact]
    public async Task StateMachineSaga_TwoMessageIdsTwiceEach_AreHandledOnceEach()
    {
        await using var bus = await StartStateMachineAsync();
        var paymentId = Guid.NewGuid();

        await SendTwiceAsync(bus, new PaymentCaptured(paymentId), Guid.NewGuid());
        await SendTwiceAsync(bus, new PaymentCaptured(paymentId), Guid.NewGuid());

        Assert.Equal(2, Captures(bus, paymentId));
    }

    [Fact]
    public async Task StateMachineSaga_SeesItsClaim()
    {
        await using var bus = await StartStateMachineAsync();

        var id = Guid.NewGuid();
        await Publish(bus, new PaymentCaptured(Guid.NewGuid()), id);
        await bus.Deliveries.ReceivedAsync(id, 1);

        var claim = Assert.Single(bus.Ledger.Claims);
        Assert.NotNull(claim);
        Assert.True(claim.Epoch > 0);
    }

    [Fact]
    public async Task StateMachineSaga_DuplicateRequest_GetsTheOriginalReply_WithoutHandlingItAgain()
    {
        await using var bus = await StartStateMachineAsync();
        var (id, paymentId) = (Guid.NewGuid(), Guid.NewGuid());
        var client = bus.Harness.Bus.CreateRequestClient<CapturePayment>(RequestTimeout.After(s: 30));

        var first = await client.GetResponse<CaptureReceipt>(new CapturePayment(paymentId), x => x.UseExecute(ctx => ctx.MessageId = id));
        var second = await client.GetResponse<CaptureReceipt>(new CapturePayment(paymentId), x => x.UseExecute(ctx => ctx.MessageId = id));

        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, Captures(bus, paymentId));
    }

    [Fact]
    public async Task Saga_SameMessageTwiceWithOneMessageId_IsHandledOnce()
    {
        await using var bus = await StartSagaAsync();
        var id = Guid.NewGuid();

        await SendTwiceAsync(bus, new RefundRequested(id), Guid.NewGuid());

        Assert.Equal(1, Refunds(bus, id));
    }

    [Fact]
    public async Task Saga_TwoMessageIdsTwiceEach_AreHandledOnceEach()
    {
        await using var bus = await StartSagaAsync();
        var id = Guid.NewGuid();

        await SendTwiceAsync(bus, new RefundRequested(id), Guid.NewGuid());
        await SendTwiceAsync(bus, new RefundRequested(id), Guid.NewGuid());

        Assert.Equal(2, Refunds(bus, id));
    }
}

public sealed class InMemorySagaTests : SagaTests
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();
}
