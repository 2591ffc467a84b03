using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.RabbitMq;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>Red-team tests over a real RabbitMQ and a real Redis (the servers the fixtures start).</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(RabbitMq.RabbitMqOutageCollection.Name)]
public sealed class RedTeamRabbitMqTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    // README, "When a claim completes": "A transient dedup failure (Redis unavailable, the in-flight wait ran out, the lease
    // lost) sends the message back to the broker and never produces a Fault<T>: no fault response reaches a requester".
    // Here with MassTransit's UseMessageRetry on the endpoint (the retry policy defers faults until it gives up).
    [Fact]
    public async Task RedisStopped_RequestUnderMessageRetry_TheRequesterGetsNoFault()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0,
            endpoint: (e, _) => e.UseMessageRetry(r => r.Immediate(2)));
        await redisServer.StopAsync();

        var exception = await Record.ExceptionAsync(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("apple", 1), Guid.NewGuid(), TimeSpan.FromSeconds(5)));

        Assert.IsType<RequestTimeoutException>(exception); // still pending: it runs once Redis is back
        Assert.Equal(0, bus.Ledger.TotalRuns);
    }

    // The same promise without any retry filter: the plain default configuration of the README's Usage section.
    [Fact]
    public async Task RedisStopped_Request_TheRequesterGetsNoFault()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0);
        await redisServer.StopAsync();

        var exception = await Record.ExceptionAsync(() =>
            bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("apple", 1), Guid.NewGuid(), TimeSpan.FromSeconds(5)));

        Assert.IsType<RequestTimeoutException>(exception);
    }

    // "... and no fault event is published for a message that will still run". A subscriber of Fault<ChargePayment> (an
    // alerting or compensation consumer) must see nothing while Redis is down, with and without UseMessageRetry.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RedisStopped_NoFaultEventIsPublished(bool messageRetry)
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0,
            endpoint: messageRetry ? (e, _) => e.UseMessageRetry(r => r.Immediate(2)) : null);
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 3m));
        var faults = 0;
        var handle = bus.Bus.ConnectReceiveEndpoint("faults-" + bus.Queue, e => e.Handler<Fault<ChargePayment>>(context =>
        {
            if (context.Message.FaultedMessageId == id)
                Interlocked.Increment(ref faults);
            return Task.CompletedTask;
        }));
        await handle.Ready;
        await redisServer.StopAsync();

        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(2); // at least two transient attempts went through the consumer pipe
        await Task.Delay(1000);

        Assert.Equal(0, Volatile.Read(ref faults));
        Assert.Equal(0, bus.Ledger.RunsOf(payment.PaymentId));
        await handle.StopAsync();
    }

    // The same with a FaultAddress on the message: MassTransit sends the fault there instead of publishing it.
    [Fact]
    public async Task RedisStopped_MessageWithFaultAddress_NoFaultIsSentThere()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0);
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 3m));
        var faults = 0;
        var faultQueue = "fault-address-" + bus.Queue;
        var handle = bus.Bus.ConnectReceiveEndpoint(faultQueue, e => e.Handler<Fault<ChargePayment>>(_ =>
        {
            Interlocked.Increment(ref faults);
            return Task.CompletedTask;
        }));
        await handle.Ready;
        await redisServer.StopAsync();

        var endpoint = await bus.Bus.GetSendEndpoint(new Uri("queue:" + bus.Queue));
        await endpoint.Send(payment, ctx =>
        {
            ctx.MessageId = id;
            ctx.FaultAddress = new Uri("queue:" + faultQueue);
        });
        await bus.Deliveries.WaitAsync<ChargePayment>(2);
        await Task.Delay(1000);

        Assert.Equal(0, Volatile.Read(ref faults));
        await handle.StopAsync();
    }

    // A requester that retries with the same MessageId while the first copy still runs: its copy waits, the wait runs out
    // (DedupInFlightTimeoutException, transient): it must get no Fault, and once the first copy completes the redelivered
    // copy is answered with the stored reply (README, "Replay and fingerprints").
    [Fact]
    public async Task RetriedRequestWhileTheFirstRunsPastTheWait_GetsNoFault_AndIsAnsweredWithTheOriginalReply()
    {
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromMilliseconds(300));
        bus.Ledger.HoldConsumers = true;
        var id = Guid.NewGuid();

        var first = bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("pear", 1), id, TimeSpan.FromSeconds(30));
        await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("pear", 1), id, TimeSpan.FromSeconds(30));
        await bus.Deliveries.WaitAsync<QuoteRequest>(1); // the retried copy's wait ran out
        await Task.Delay(500);
        bus.Ledger.Gate.SetResult();

        var firstReply = await first;
        var secondReply = await second; // a RequestFaultException here breaks the promise

        Assert.Equal(firstReply.Message, secondReply.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }
}

public interface IPolyCharge
{
    Guid PaymentId { get; }
}

public sealed record PolyCharge(Guid PaymentId, decimal Amount) : IPolyCharge;

/// <summary>One consumer taking one message as two of its types (a contract and the interface it implements).</summary>
public sealed class PolyConsumer(Ledger ledger) : IConsumer<PolyCharge>, IConsumer<IPolyCharge>
{
    public Task Consume(ConsumeContext<PolyCharge> context)
    {
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<IPolyCharge> context)
    {
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>Red-team: one consumer, one message, two message types, over a real Redis.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RedTeamPolymorphicTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    // DedupFilter: "The same consumer takes this message as another of its types (polymorphic contracts, two contract
    // versions with one URN): one consumer, one key, one run per delivery." MassTransit dispatches a message to its message
    // types concurrently (DynamicFilter starts every output pipe, then Task.WhenAll). With Redis the first type's claim is
    // a real network await, so the second type's filter looks up the delivery before the first has registered its claim,
    // claims the same key itself, gets Busy from its own delivery's claim, and waits: the first claim only completes once
    // the whole pipeline (including this waiter) returns. After InFlightWait it throws DedupInFlightTimeoutException, the
    // first (successful) consumer's claim is released, the message is redelivered, and the cycle repeats: the consumer
    // runs again on every redelivery and the message never completes. README: "runs the consumer once ... skips every
    // duplicate".
    [Fact]
    public async Task ConsumerOfAMessageAndItsInterface_OverRedis_EachMessageRunsOnce_AndCompletes()
    {
        await using var bus = await RabbitBus.StartAsync<PolyConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromSeconds(1));
        var payments = Enumerable.Range(0, 10).Select(i => new PolyCharge(Guid.NewGuid(), i)).ToArray();

        foreach (var payment in payments)
            await bus.SendAsync(payment, Guid.NewGuid());
        await Task.Delay(TimeSpan.FromSeconds(6));

        var failures = bus.Deliveries.Of<PolyCharge>().Concat(bus.Deliveries.Of<IPolyCharge>()).OfType<Exception>().ToList();
        var runs = payments.Select(p => bus.Ledger.RunsOf(p.PaymentId)).ToArray();
        Assert.True(runs.All(r => r == 1) && failures.Count == 0,
            $"ten messages, each sent once: runs per message [{string.Join(",", runs)}]; {failures.Count} failed deliveries: {string.Join(" | ", failures.Select(f => f.GetType().Name).Distinct())}");
    }
}

/// <summary>Red-team: two consumers of one request on one endpoint, both answering, over RabbitMQ and Redis.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RedTeamTwoRepliersTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    // README, "Replay and fingerprints": replies "are recorded once each, whichever way they are sent: ... or an outbox that
    // sends them after the consumer returned"; "When a claim completes": "each consumer's claim depends on its own work and
    // its own replies". Two consumers of one request on one endpoint (both answer), with the README's
    // cfg.UseInMemoryOutbox(context). An outbox flush runs after the consumer's dedup filter returned, so ReplyCapture gives
    // the flushed reply to every pending claim of the delivery with the same RequestId: the other consumer's claim records
    // it too, and a duplicate request is answered with each reply twice.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoConsumersReplyingUnderAnOutbox_ADuplicateGetsEachReplyExactlyOnce(bool outbox)
    {
        var queue = "redteam-two-" + Guid.NewGuid().ToString("N")[..8];
        var connection = RedisTestConnectionsProxy.Connect(redis.Server.ConnectionString);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<PipelineState>();
        services.AddScoped<QuoteService>();
        services.AddDedup(o =>
        {
            o.KeyPrefix = queue + ":";
            o.InFlightWait = TimeSpan.FromSeconds(30);
        });
        services.AddDedupRedisStore(_ => connection);
        var replies = new System.Collections.Concurrent.ConcurrentQueue<(Guid? RequestId, string Type)>();
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumer<ReplyingQuoteConsumer>();
            x.AddConsumer<AuditingQuoteConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(rabbit.Server.Host, (ushort)rabbit.Server.Port, rabbit.Server.VirtualHost, h =>
                {
                    h.Username(rabbit.Server.Username);
                    h.Password(rabbit.Server.Password);
                });
                if (outbox)
                    cfg.UseInMemoryOutbox(context);
                cfg.UseDedup(context);
                cfg.ReceiveEndpoint(queue, e =>
                {
                    e.ConfigureConsumer<ReplyingQuoteConsumer>(context);
                    e.ConfigureConsumer<AuditingQuoteConsumer>(context);
                });
                cfg.ReceiveEndpoint(queue + "-replies", e =>
                {
                    e.Handler<QuoteReply>(c =>
                    {
                        replies.Enqueue((c.RequestId, nameof(QuoteReply)));
                        return Task.CompletedTask;
                    });
                    e.Handler<AuditReply>(c =>
                    {
                        replies.Enqueue((c.RequestId, nameof(AuditReply)));
                        return Task.CompletedTask;
                    });
                });
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        try
        {
            var ledger = provider.GetRequiredService<Ledger>();
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:" + queue));
            var (id, first, second) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
            var responseAddress = new Uri("queue:" + queue + "-replies");

            await endpoint.Send(new QuoteRequest("fig", 1), ctx =>
            {
                ctx.MessageId = id;
                ctx.RequestId = first;
                ctx.ResponseAddress = responseAddress;
            });
            await WaitUntil(() => replies.Count(r => r.RequestId == first) >= 2);
            await Task.Delay(500);
            await endpoint.Send(new QuoteRequest("fig", 1), ctx =>
            {
                ctx.MessageId = id;
                ctx.RequestId = second;
                ctx.ResponseAddress = responseAddress;
            });
            await WaitUntil(() => replies.Count(r => r.RequestId == second) >= 2);
            await Task.Delay(1000); // any extra replay arrives within this

            var original = replies.Where(r => r.RequestId == first).Select(r => r.Type).Order().ToList();
            var replayed = replies.Where(r => r.RequestId == second).Select(r => r.Type).Order().ToList();
            Assert.Equal(1, ledger.RunsOf(Guid.Empty));
            Assert.Equal(["AuditReply", "QuoteReply"], original);
            Assert.Equal(original, replayed);
        }
        finally
        {
            await bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            await connection.DisposeAsync();
        }
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition() && DateTime.UtcNow < deadline)
            await Task.Delay(50);
    }
}

internal static class RedisTestConnectionsProxy
{
    public static StackExchange.Redis.ConnectionMultiplexer Connect(string connectionString) =>
        Dedup.Filters.Tests.Redis.RedisTestConnections.Connect(connectionString);
}

/// <summary>A user's unit of work whose commit, after the consumer returned, takes longer than several leases.</summary>
public sealed class SlowCommitFilter<T>(Ledger ledger) : IFilter<ConsumeContext<T>>
    where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        await next.Send(context);
        if (ledger.HoldConsumers)
            await Task.Delay(TimeSpan.FromSeconds(6));
    }

    public void Probe(ProbeContext context)
    {
    }
}

/// <summary>Red-team: timing between the consumer's success and the commit, over RabbitMQ and Redis.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RedTeamCommitTimingTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    // README, "When a claim completes": the claim completes only after everything around the consumer succeeded (a unit of
    // work that commits after it). The lease is "renewed every third of it while the consumer runs": a commit that takes
    // longer than the lease must still hold the key, so a copy arriving meanwhile waits and is skipped, and nothing is
    // taken over. Holds (the claim renews until it is settled); no existing test covers a commit slower than the lease.
    [Fact]
    public async Task CommitSlowerThanTheLease_TheClaimIsRenewedUntilTheCommit_AndACopyMidwayWaitsAndIsSkipped()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, o =>
            {
                o.Lease = TimeSpan.FromSeconds(2);
                o.InFlightWait = TimeSpan.FromSeconds(20);
            },
            endpoint: (e, context) => e.UseConsumeFilter(typeof(SlowCommitFilter<>), context));
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<Dedup.Diagnostics.DedupMetrics>());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        // The filter delays every commit while HoldConsumers is set; ChargeConsumer holds on the gate while it is set, so
        // open the gate first: the consumer returns at once and the commit takes 6 s (three leases; generous leases, so
        // that a loaded 2-core machine stalling a renewal does not lose the claim).
        bus.Ledger.Gate.SetResult();
        bus.Ledger.HoldConsumers = true;
        await bus.SendAsync(payment, id);
        await Dedup.Filters.Tests.RedTeam.Wait.UntilAsync(() => bus.Ledger.RunsOf(payment.PaymentId) > 0); // the consumer returned; the commit runs
        await Task.Delay(3000);                           // a lease and a half into the commit
        await bus.SendAsync(payment, id);
        await Dedup.Filters.Tests.RedTeam.Wait.UntilAsync(() => { lock (outcomes) return outcomes.Contains(Dedup.Diagnostics.DedupOutcomes.InFlightWaited); });
        await Dedup.Filters.Tests.RedTeam.Wait.UntilAsync(() => bus.Deliveries.Of<ChargePayment>().Count >= 2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        lock (outcomes)
        {
            Assert.DoesNotContain(Dedup.Diagnostics.DedupOutcomes.TakenOver, outcomes);
            Assert.DoesNotContain(Dedup.Diagnostics.DedupOutcomes.LeaseLost, outcomes);
        }
    }

    // README, "Operational settings": with AOF, a Redis restart is survivable; "Script cache: ... a restart or a failover is
    // invisible". A restart between the claim and the commit (the consumer still running, shorter than the lease) must not
    // make the message run twice. Holds; no existing test restarts Redis in the middle of a claim.
    [Fact]
    public async Task RedisRestartedWithAofBetweenClaimAndCommit_TheMessageRunsOnce_AndTheCopyIsSkipped()
    {
        await using var redisServer = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true });
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o =>
        {
            o.Lease = TimeSpan.FromSeconds(5);
            o.InFlightWait = TimeSpan.FromSeconds(20);
        });
        bus.Ledger.HoldConsumers = true;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await bus.SendAsync(payment, id);
        await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await redisServer.RestartAsync();
        bus.Ledger.Gate.SetResult();
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        await Task.Delay(500);
        await bus.SendAsync(payment, id);
        await Dedup.Filters.Tests.RedTeam.Wait.UntilAsync(() => bus.Deliveries.Of<ChargePayment>().Count(e => e is null) >= 2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }
}

internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
            await Task.Delay(50, timeout.Token);
    }
}
