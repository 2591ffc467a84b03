using Dedup.Diagnostics;
using Dedup.Protocol;
using Dedup.Stores;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// One variant's bus (none, dedup, dedup-batched or seed) on one transport and prefetch, with its own queue and recorder. The three
/// buses of a transport run side by side for all its rounds, so rows can be interleaved without starting a bus per row;
/// only the bus whose row runs gets traffic.
/// </summary>
public sealed class VariantBus : IAsyncDisposable
{
    // dedup-batched: the same store with RedisBatchSize 64, interleaved with the default so the two compare within a round.
    public static readonly string[] Variants = ["none", "dedup", "dedup-batched", "seed"];

    readonly ServiceProvider _provider;
    readonly IBusControl _bus;
    readonly ConnectionMultiplexer _redis;

    VariantBus(string variant, ServiceProvider provider, ConnectionMultiplexer redis, Recorder recorder, ISendEndpoint endpoint)
    {
        Variant = variant;
        _provider = provider;
        _bus = provider.GetRequiredService<IBusControl>();
        _redis = redis;
        Recorder = recorder;
        Endpoint = endpoint;
    }

    public string Variant { get; }

    public Recorder Recorder { get; }

    /// <summary>The send endpoint of this bus's own queue.</summary>
    public ISendEndpoint Endpoint { get; }

    public static async Task<VariantBus> StartAsync(string transport, int prefetch, string variant, RedisServer redisServer, RabbitMqServer? rabbit)
    {
        var queue = $"bench-{transport}-{prefetch}-{variant}-{Guid.NewGuid().ToString("N")[..6]}";
        var recorder = new Recorder();
        var redis = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);
        var provider = Build(transport, prefetch, variant, queue, recorder, redis, rabbit);
        var bus = provider.GetRequiredService<IBusControl>();
        using var startTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await bus.StartAsync(startTimeout.Token);
        return new VariantBus(variant, provider, redis, recorder, await bus.GetSendEndpoint(new Uri("queue:" + queue)));
    }

    public async ValueTask DisposeAsync()
    {
        using var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _bus.StopAsync(stopTimeout.Token);
        await _provider.DisposeAsync();
        await _redis.DisposeAsync();
    }

    static ServiceProvider Build(string transport, int prefetch, string variant, string queue, Recorder recorder, IConnectionMultiplexer redis, RabbitMqServer? rabbit)
    {
        var services = new ServiceCollection();
        services.AddSingleton(recorder);
        if (variant.StartsWith("dedup", StringComparison.Ordinal))
        {
            services.AddDedup(o =>
            {
                o.KeyPrefix = "bench:";
                o.InFlightWait = TimeSpan.FromSeconds(60);
            });

            // dedup-memory (soak only): the same filter on the in-memory store, which separates dedup's own cost from the
            // Redis client's and the server's; dedup-batched: the Redis store with RedisBatchSize 64.
            if (variant == "dedup-memory")
                services.AddDedupInMemoryStore();
            else if (variant == "dedup-batched")
                services.Replace(ServiceDescriptor.Singleton<IDedupStore>(sp => new RedisDedupStore(redis, ownsConnection: false, "bench:",
                    sp.GetRequiredService<DedupMetrics>(), NullLogger.Instance, RedisBatching.Default)));
            else
                services.AddDedupRedisStore(_ => redis);
        }

        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(_ => recorder);
            x.AddConsumer<BenchConsumer>();

            void Endpoint(IReceiveEndpointConfigurator e, IBusRegistrationContext context)
            {
                e.ConcurrentMessageLimit = prefetch;
                if (variant.StartsWith("dedup", StringComparison.Ordinal))
                    e.UseDedup(context);
                e.ConfigureConsumer<BenchConsumer>(context, c =>
                {
                    if (variant == "seed")
                        c.Message<BenchMessage>(m => m.UseFilter(new SeedFilter<BenchMessage>(redis)));
                });
            }

            if (transport == "inmemory")
            {
                x.UsingInMemory((context, cfg) => cfg.ReceiveEndpoint(queue, e => Endpoint(e, context)));
                return;
            }

            var broker = rabbit ?? throw new InvalidOperationException("The RabbitMQ rows need a broker; run without --no-rabbitmq.");
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(broker.Host, (ushort)broker.Port, broker.VirtualHost, h =>
                {
                    h.Username(broker.Username);
                    h.Password(broker.Password);
                });
                cfg.ReceiveEndpoint(queue, e =>
                {
                    e.PrefetchCount = prefetch;
                    Endpoint(e, context);
                });
            });
        });
        return services.BuildServiceProvider();
    }
}
