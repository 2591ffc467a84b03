using Dedup;
using Dedup.Diagnostics;
using Dedup.Execution;
using Dedup.Operations;
using Dedup.Pipeline;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Dedup: its options, the executor, and a store.</summary>
public static class DedupServiceCollectionExtensions
{
    /// <summary>
    /// Registers Dedup's options (validated at start), metrics, the claim protocol, <see cref="IDedupExecutor"/> and the
    /// operator's <see cref="DedupRecords"/>. Add a store too.
    /// </summary>
    public static IServiceCollection AddDedup(this IServiceCollection services, Action<DedupOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<DedupOptions>();
        if (configure is not null)
            options.Configure(configure);
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DedupOptions>, DedupOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new DedupMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<IDedupStore>(_ => throw new InvalidOperationException(
            "No dedup store is registered. Call services.AddDedupRedisStore(\"host:6379\") for Redis, or services.AddDedupInMemoryStore() for one process."));
        services.TryAddSingleton(sp => new ClaimCoordinator(
            sp.GetRequiredService<IDedupStore>(),
            sp.GetRequiredService<IOptions<DedupOptions>>(),
            sp.GetRequiredService<DedupMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<ClaimCoordinator>>() ?? NullLogger<ClaimCoordinator>.Instance));
        services.TryAddSingleton(sp => new DedupPipeline(
            sp.GetRequiredService<ClaimCoordinator>(),
            sp.GetRequiredService<IOptions<DedupOptions>>().Value,
            sp.GetRequiredService<DedupMetrics>(),
            sp.GetService<ILogger<ClaimCoordinator>>() ?? NullLogger<ClaimCoordinator>.Instance,
            sp));
        services.TryAddSingleton<IDedupExecutor, DedupExecutor>();
        services.TryAddSingleton(sp => new DedupRecords(sp.GetRequiredService<IDedupStore>(), sp.GetRequiredService<IOptions<DedupOptions>>().Value));
        return services;
    }

    /// <summary>
    /// Registers the takeover check for <typeparamref name="TMessage"/> (scoped): asked, when a message's claim is taken
    /// over, whether the previous owner's work already happened (README, "Closing the crash window").
    /// </summary>
    public static IServiceCollection AddDedupTakeoverCheck<TMessage, TCheck>(this IServiceCollection services)
        where TMessage : class
        where TCheck : class, IDedupTakeoverCheck<TMessage>
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Replace(ServiceDescriptor.Scoped<IDedupTakeoverCheck<TMessage>, TCheck>());
        return services;
    }

    /// <summary>Uses Redis as the store, connecting with a StackExchange.Redis configuration string (e.g. <c>localhost:6379</c>).</summary>
    /// <exception cref="ArgumentException">The configuration string does not parse.</exception>
    public static IServiceCollection AddDedupRedisStore(this IServiceCollection services, string configuration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(configuration);
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException)
        {
            throw new ArgumentException($"The dedup Redis configuration '{configuration}' does not parse: {exception.Message}. Use the StackExchange.Redis form 'host:port[,password=...][,ssl=true]'.", nameof(configuration), exception);
        }

        // Start even while Redis is down: claims then fail closed and messages are redelivered.
        parsed.AbortOnConnectFail = false;

        // A primary and its replicas without Sentinel: the client learns of a promotion when it re-reads the servers'
        // roles, by default every 60 s, and meanwhile writes fail (READONLY, or the old primary is gone). Every second
        // unless the configuration says otherwise (reliability scenario 18).
        if (!configuration.Split(',').Any(part => part.TrimStart().StartsWith("configCheckSeconds=", StringComparison.OrdinalIgnoreCase)))
            parsed.ConfigCheckSeconds = 1;
        return services.AddDedupRedisStore(_ => ConnectionMultiplexer.Connect(parsed), ownsConnection: true);
    }

    /// <summary>Uses Redis as the store, on a connection the application provides.</summary>
    /// <remarks>
    /// With <see cref="DedupOptions.Durability"/> on, the store also opens up to <see cref="DedupDurability.Connections"/>
    /// connections of its own for WAIT, from this connection's <see cref="IConnectionMultiplexer.Configuration"/> string
    /// (settings made in code only, such as certificate callbacks, are not in it).
    /// </remarks>
    public static IServiceCollection AddDedupRedisStore(this IServiceCollection services, Func<IServiceProvider, IConnectionMultiplexer> connection, bool ownsConnection = false)
    {
        ArgumentNullException.ThrowIfNull(connection);
        services.Replace(ServiceDescriptor.Singleton<IDedupStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<DedupOptions>>().Value;
            var metrics = sp.GetRequiredService<DedupMetrics>();
            var logger = (ILogger?)sp.GetService<ILogger<RedisDedupStore>>() ?? NullLogger.Instance;
            var multiplexer = connection(sp);
            var store = new RedisDedupStore(multiplexer, ownsConnection, options.KeyPrefix, metrics, logger,
                options.RedisBatchSize > 1 ? new RedisBatching(options.RedisBatchSize, 1) : RedisBatching.Off);
            if (options.Durability.Replicas == 0)
                return store;

            // WAIT goes on connections of its own, opened with the same configuration (see WaitConnections).
            var barrier = new ReplicationBarrier(multiplexer.Configuration, options.Durability, metrics, logger);
            return new ReplicatedDedupStore(store, barrier, logger);
        }));
        return services;
    }

    /// <summary>Uses process memory as the store: the embedded default, for a single process (records vanish with it).</summary>
    public static IServiceCollection AddDedupInMemoryStore(this IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<IDedupStore>(sp =>
        {
            var replicas = sp.GetRequiredService<IOptions<DedupOptions>>().Value.Durability.Replicas;
            if (replicas > 0)
            {
                throw new InvalidOperationException(
                    $"Dedup:Durability:Replicas is {replicas}, but the in-memory store keeps its records in this process only and has no replicas to wait for. Set Dedup:Durability:Replicas to 0, or use services.AddDedupRedisStore(...).");
            }

            return new InMemoryDedupStore(sp.GetService<TimeProvider>() ?? TimeProvider.System);
        }));
        return services;
    }
}
