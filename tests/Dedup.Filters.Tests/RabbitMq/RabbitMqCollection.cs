using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Redis;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>End-to-end tests over a real RabbitMQ and a real Redis (both started by fixtures).</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[CollectionDefinition("rabbitmq")]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqFixture>, ICollectionFixture<RedisFixture>, ICollectionFixture<RedisClusterFixture>
{
}

/// <summary>
/// The tests that take Redis away (stopped, full) while messages flow: mostly waiting for outages and redeliveries, so
/// they get a RabbitMQ node of their own and run beside the "rabbitmq" collection instead of after it.
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class RabbitMqOutageCollection : ICollectionFixture<RabbitMqFixture>, ICollectionFixture<RedisFixture>
{
    public const string Name = "rabbitmq outages";
}

/// <summary>
/// More of the same (requests and quorum queues during outages), on a third RabbitMQ node: the outage tests wait far more
/// than they compute, and in one collection they were the longest path through the suite (about 4 minutes).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class RabbitMqRequestOutageCollection : ICollectionFixture<RabbitMqFixture>, ICollectionFixture<RedisFixture>
{
    public const string Name = "rabbitmq outages, requests and quorum queues";
}

/// <summary>A MassTransit bus on the real RabbitMQ with the dedup filter on the real Redis, one queue per test.</summary>
public sealed class RabbitBus : IAsyncDisposable
{
    RabbitBus(ServiceProvider provider, IBusControl bus, string queue, ConnectionMultiplexer redis)
    {
        Provider = provider;
        Bus = bus;
        Queue = queue;
        Redis = redis;
    }

    public ServiceProvider Provider { get; }

    public IBusControl Bus { get; }

    public string Queue { get; }

    public ConnectionMultiplexer Redis { get; }

    public Ledger Ledger => Provider.GetRequiredService<Ledger>();

    public DeliveryCounter Deliveries => Provider.GetRequiredService<DeliveryCounter>();

    public static Task<RabbitBus> StartAsync<TConsumer>(RabbitMqServer rabbit, RedisServer redisServer, Action<DedupOptions>? configure = null,
        Action<IRabbitMqReceiveEndpointConfigurator, IBusRegistrationContext>? endpoint = null, Action<IConsumerConfigurator<TConsumer>>? consumer = null)
        where TConsumer : class, IConsumer =>
        StartAsync(rabbit, redisServer.ConnectionString, configure, endpoint, consumer);

    /// <summary>As above, on the Redis (a cluster's endpoints, say) that <paramref name="redisConfiguration"/> names.</summary>
    public static async Task<RabbitBus> StartAsync<TConsumer>(RabbitMqServer rabbit, string redisConfiguration, Action<DedupOptions>? configure = null,
        Action<IRabbitMqReceiveEndpointConfigurator, IBusRegistrationContext>? endpoint = null, Action<IConsumerConfigurator<TConsumer>>? consumer = null)
        where TConsumer : class, IConsumer
    {
        var queue = "dedup-test-" + Guid.NewGuid().ToString("N")[..8];
        var redis = RedisTestConnections.Connect(redisConfiguration);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<DeliveryCounter>();
        services.AddSingleton<BatchLog>();
        services.AddDedup(o =>
        {
            o.KeyPrefix = queue + ":";
            o.RedeliveryDelay = TimeSpan.FromMilliseconds(200);
            o.MaxRedeliveryDelay = TimeSpan.FromSeconds(1); // outage tests: a message comes back within a second of Redis
            configure?.Invoke(o);
        });
        services.AddDedupRedisStore(_ => redis);
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(sp => sp.GetRequiredService<DeliveryCounter>());
            x.AddConsumer<TConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                {
                    h.Username(rabbit.Username);
                    h.Password(rabbit.Password);
                });
                cfg.UseDedup(context);
                cfg.ReceiveEndpoint(queue, e =>
                {
                    e.PrefetchCount = 32;
                    endpoint?.Invoke(e, context);
                    e.ConfigureConsumer<TConsumer>(context, c => consumer?.Invoke(c));
                });
            });
        });
        var provider = services.BuildServiceProvider(true);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        return new RabbitBus(provider, bus, queue, redis);
    }

    public async Task SendAsync(object message, Guid messageId)
    {
        var endpoint = await Bus.GetSendEndpoint(new Uri("queue:" + Queue));
        await endpoint.Send(message, message.GetType(), ctx => ctx.MessageId = messageId);
    }

    public Task<Response<TReply>> RequestAsync<TRequest, TReply>(TRequest request, Guid messageId, TimeSpan timeout)
        where TRequest : class
        where TReply : class
    {
        var client = Bus.CreateRequestClient<TRequest>(new Uri("queue:" + Queue), RequestTimeout.After(ms: (int)timeout.TotalMilliseconds));
        return client.GetResponse<TReply>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
    }

    public async ValueTask DisposeAsync()
    {
        await Bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await Provider.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
