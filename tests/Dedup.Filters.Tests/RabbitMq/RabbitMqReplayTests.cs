using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>Replay over a real RabbitMQ with MassTransit's request client (issue 3).</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RabbitMqReplayTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RequestSentTwiceWithTheSameMessageId_GetsTheSameReply_AndRunsOnce()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server);
        var id = Guid.NewGuid();

        var first = await bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("apple", 2), id, Timeout);
        var second = await bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("apple", 2), id, Timeout);

        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task TenConcurrentCopies_AllGetTheReply_AndRunOnce()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var id = Guid.NewGuid();

        var replies = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("pear", 3), id, Timeout)));

        Assert.Single(replies.Select(r => r.Message.QuoteId).Distinct());
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task ReplyOverTheSizeLimit_DuplicateIsAcknowledgedWithoutAnswer()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server, o => o.MaxReplyBytes = 16);
        var id = Guid.NewGuid();

        await bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("melon", 1), id, Timeout);
        await Assert.ThrowsAsync<RequestTimeoutException>(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("melon", 1), id, TimeSpan.FromSeconds(2)));

        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    [Fact]
    public async Task ConflictingPayload_GoesToTheErrorQueueWithItsReason_AndGetsNoStoredReply()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server);
        var id = Guid.NewGuid();

        await bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("kiwi", 1), id, Timeout);
        var fault = await Assert.ThrowsAsync<RequestFaultException>(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("kiwi", 500), id, Timeout));

        Assert.Contains("Dedup conflict", fault.Fault!.Exceptions[0].Message, StringComparison.Ordinal);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error") != 1)
            await Task.Delay(50, timeout.Token);
    }

    [Fact]
    public async Task WithRecordFaults_ADuplicateOfAFailedRequestGetsTheSameFault_AndDoesNotRun()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server, o => o.RecordFaults = true);
        bus.Ledger.FailuresLeft = 100;
        var id = Guid.NewGuid();

        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var first = await Assert.ThrowsAsync<RequestFaultException>(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("fig", 1), id, Timeout));
        await MetricsListener.WaitForAsync(outcomes, Diagnostics.DedupOutcomes.FaultRecorded);
        var second = await Assert.ThrowsAsync<RequestFaultException>(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("fig", 1), id, Timeout));

        Assert.Single(bus.Ledger.Claims);
        Assert.Equal(first.Fault!.Exceptions[0].Message, second.Fault!.Exceptions[0].Message);
        Assert.Equal(1, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error")); // only the original
    }

    [Fact]
    public async Task WithOutgoingMessagesHeld_AFailedAttemptPublishesNothing()
    {
        await using var bus = await RabbitBus.StartAsync<NotifyingConsumer>(rabbit.Server, redis.Server, endpoint: (e, context) =>
        {
            e.UseMessageRetry(r => r.Immediate(3));
            e.UseInMemoryOutbox(context);
        });
        var charged = 0;
        var handle = bus.Bus.ConnectReceiveEndpoint("charged-" + bus.Queue, e => e.Handler<PaymentCharged>(_ =>
        {
            Interlocked.Increment(ref charged);
            return Task.CompletedTask;
        }));
        await handle.Ready;
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(2);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (Volatile.Read(ref charged) < 1)
                await Task.Delay(20, timeout.Token);
        }

        await Task.Delay(500); // a second event, if the failed attempt had published one, arrives within this
        Assert.Equal(1, Volatile.Read(ref charged));
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        await handle.StopAsync();
    }
}

/// <summary>
/// With <see cref="DedupOptions.RecordFaults"/>, a consumer's failed claim is held for its fault; when a sibling consumer
/// of the same message fails transiently instead, the message goes back to the broker after a hold, so no fault is
/// recorded: the held claim is released before that hold, not after it (copies would wait for it meanwhile).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RabbitMqHeldFaultTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    [Fact]
    public async Task ASiblingFailsTransiently_TheClaimHeldForAFaultIsReleasedBeforeTheRedeliveryHold()
    {
        var state = HeldFaultState.Current = new HeldFaultState();
        await using var bus = await RabbitBus.StartAsync<AlwaysFailingPaymentConsumer>(rabbit.Server, redis.Server,
            o =>
            {
                o.RecordFaults = true;
                o.RedeliveryDelay = TimeSpan.FromSeconds(4); // the hold: longer than the test waits for the release
                o.MaxRedeliveryDelay = TimeSpan.FromSeconds(4);
            },
            endpoint: (e, _) => e.Consumer<TransientlyFailingSiblingConsumer>());
        var id = Guid.NewGuid();

        await bus.SendAsync(new ChargePayment(Guid.NewGuid(), 3m), id);
        var input = await state.Failed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await state.SiblingFailed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var records = bus.Provider.GetRequiredService<Dedup.Operations.DedupRecords>();
        var key = records.KeyForMessage(id, input.ToString(), typeof(AlwaysFailingPaymentConsumer).FullName!);

        var deadline = DateTime.UtcNow.AddSeconds(3); // within the 4 s hold
        Dedup.Operations.DedupRecord record;
        while ((record = await records.InspectAsync(key)).State == Dedup.Operations.DedupRecordState.InProgress && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Equal(Dedup.Operations.DedupRecordState.Released, record.State);
    }
}

public sealed class HeldFaultState
{
    /// <summary>The running test's state (the consumers are created by MassTransit; one test uses them).</summary>
    public static HeldFaultState Current { get; set; } = new();

    public TaskCompletionSource<Uri> Failed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource SiblingFailed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Fails every time (a terminal fault: its claim is held for RecordFaults).</summary>
public sealed class AlwaysFailingPaymentConsumer : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        HeldFaultState.Current.Failed.TrySetResult(context.ReceiveContext.InputAddress);
        throw new InvalidOperationException("always fails (test)");
    }
}

/// <summary>Fails transiently (its store unavailable): the delivery goes back to the broker after a hold.</summary>
public sealed class TransientlyFailingSiblingConsumer : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        HeldFaultState.Current.SiblingFailed.TrySetResult();
        throw new DedupStoreUnavailableException("store unavailable (test)", new TimeoutException());
    }
}
