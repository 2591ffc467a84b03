using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>
/// Dedup returns transient failures to the broker without taking over the endpoint's error pipe: what the user
/// configured there (discard, their own filters) still decides every other fault (issue 9, item 12).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(RabbitMqOutageCollection.Name)]
public sealed class ErrorPipeTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    [Fact]
    public async Task DiscardFaultedMessages_ConsumerAlwaysThrows_RetriesRunAndNothingGoesToTheErrorQueue()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, endpoint: (e, _) =>
        {
            e.UseMessageRetry(r => r.Immediate(2));
            e.DiscardFaultedMessages();
        });
        var receives = new ReceiveProbe();
        bus.Bus.ConnectReceiveObserver(receives);
        bus.Ledger.FailuresLeft = 1000;

        await bus.SendAsync(new ChargePayment(Guid.NewGuid(), 1m), Guid.NewGuid());
        await receives.WaitAsync(bus.Queue, 1);

        Assert.Equal(3, bus.Ledger.Claims.Count); // the first attempt and two retries
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue));
    }

    [Fact]
    public async Task DiscardFaultedMessages_TransientDedupFailure_IsRequeuedWithoutAFault_AndRunsOnceRedisIsBack()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0,
            endpoint: (e, _) => e.DiscardFaultedMessages());
        await using var faults = await FaultProbe.StartAsync<ChargePayment>(bus.Bus, "faults-" + bus.Queue);
        var payment = new ChargePayment(Guid.NewGuid(), 2m);

        await redisServer.StopAsync();
        await bus.SendAsync(payment, Guid.NewGuid());
        await bus.Deliveries.WaitAsync<ChargePayment>(2); // delivered again: it was returned, not discarded
        Assert.All(bus.Deliveries.Of<ChargePayment>(), e => Assert.IsType<DedupStoreUnavailableException>(e));

        await redisServer.RestartAsync();
        await WaitUntil(() => bus.Ledger.RunsOf(payment.PaymentId) > 0);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
        Assert.Equal(0, faults.Count);
    }

    [Fact]
    public async Task UserErrorFilter_StillDecidesConsumerFaults()
    {
        var userFilter = new RecordingErrorFilter();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server,
            endpoint: (e, _) => e.ConfigureError(x => x.UseFilter(userFilter)));
        var receives = new ReceiveProbe();
        bus.Bus.ConnectReceiveObserver(receives);
        bus.Ledger.FailuresLeft = 1000;

        await bus.SendAsync(new ChargePayment(Guid.NewGuid(), 3m), Guid.NewGuid());
        await receives.WaitAsync(bus.Queue, 1);

        Assert.IsType<InvalidOperationException>(Assert.Single(userFilter.Seen));
        // The user's error pipe neither moves nor publishes: that choice is kept.
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    [Fact]
    public async Task UserErrorFilter_NeverSeesTransientDedupFailures()
    {
        await using var redisServer = await RedisServer.StartAsync();
        var userFilter = new RecordingErrorFilter();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0,
            endpoint: (e, _) => e.ConfigureError(x => x.UseFilter(userFilter)));
        var payment = new ChargePayment(Guid.NewGuid(), 4m);

        await redisServer.StopAsync();
        await bus.SendAsync(payment, Guid.NewGuid());
        await bus.Deliveries.WaitAsync<ChargePayment>(2);
        await redisServer.RestartAsync();
        await WaitUntil(() => bus.Ledger.RunsOf(payment.PaymentId) > 0);

        Assert.Empty(userFilter.Seen);
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    /// <remarks>
    /// The completion runs in the commit filter, in front of the whole consume pipeline; a completion that fails
    /// transiently is returned to the broker only if the redelivery filter is in front of the commit filter. Pending
    /// until <c>UseDedup</c> registers it first (DedupConfigurationExtensions, the filter's redesign).
    /// </remarks>
    [Fact]
    public async Task CompletionFailsTransiently_IsReturnedToTheBroker_NotMovedToTheErrorQueue()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o =>
        {
            o.StoreRetries = 0;
            o.Lease = TimeSpan.FromSeconds(3);
        });
        var receives = new ReceiveProbe();
        bus.Bus.ConnectReceiveObserver(receives);
        await using var faults = await FaultProbe.StartAsync<ChargePayment>(bus.Bus, "faults-" + bus.Queue);
        bus.Ledger.HoldConsumers = true;
        var payment = new ChargePayment(Guid.NewGuid(), 5m);

        await bus.SendAsync(payment, Guid.NewGuid());
        await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await redisServer.StopAsync();
        bus.Ledger.Gate.SetResult(); // the consumer succeeds; its completion cannot reach Redis
        await receives.WaitAsync(bus.Queue, 1);
        await redisServer.RestartAsync();
        await WaitUntil(() => receives.FinishedOn(bus.Queue).Any(f => f is null)); // acknowledged at last

        Assert.NotNull(receives.FinishedOn(bus.Queue)[0]); // the first delivery was returned, not acknowledged
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
        Assert.Equal(0, faults.Count);
    }

    [Fact]
    public async Task BusEndpoint_KeepsDiscardingFaultedMessages()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server);
        var receives = new ReceiveProbe();
        bus.Bus.ConnectReceiveObserver(receives);
        var handle = bus.Bus.ConnectHandler<Heartbeat>(_ => throw new InvalidOperationException("handler on the bus endpoint failed (test)"));

        var endpoint = await bus.Bus.GetSendEndpoint(bus.Bus.Address);
        await endpoint.Send(new Heartbeat(1));
        var busQueue = bus.Bus.Address.Segments[^1];
        await receives.WaitAsync(busQueue, 1);
        handle.Disconnect();

        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(busQueue + "_error"));
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
            await Task.Delay(50, timeout.Token);
    }
}
