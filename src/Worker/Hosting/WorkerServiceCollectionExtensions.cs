using Dedup.Worker.Health;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Hosting;

/// <summary>Registers the production worker: MassTransit on RabbitMQ with the dedup filter on Redis.</summary>
internal static class WorkerServiceCollectionExtensions
{
    public static HostApplicationBuilder AddDedupWorker(this HostApplicationBuilder builder, WorkerConfiguration configuration)
    {
        var services = builder.Services;
        var worker = configuration.Worker;
        services.AddSingleton(configuration);
        services.AddSingleton(configuration.RabbitMq);
        services.AddSingleton(worker);
        services.AddSingleton<RedisConnections>(_ => new RedisConnections(configuration.Redis, configuration.Ledger));

        services.Configure<HostOptions>(o => o.ShutdownTimeout = worker.StopTimeout);
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = configuration.RabbitMq.ConnectTimeout * 2;
            o.StopTimeout = worker.StopTimeout;
            o.ConsumerStopTimeout = worker.ConsumerStopTimeout;
        });

        // First: Redis and RabbitMQ must answer before the bus starts taking messages.
        services.AddHostedService<DependencyCheck>();
        services.AddHostedService<WorkerLifetimeLog>();

        services.AddDedup(WorkerEndpoints.ConfigureDedup);
        WorkerConfiguration.BindDedup(services, builder.Configuration);
        services.AddDedupRedisStore(sp => sp.GetRequiredService<RedisConnections>().Dedup);
        services.AddSingleton<ILedger>(sp => new RedisLedger(
            sp.GetRequiredService<RedisConnections>().Ledger, configuration.Ledger, sp.GetRequiredService<IOptions<DedupOptions>>().Value));
        services.AddWorkerTakeoverChecks();

        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddWorkerConsumers();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.ConfigureHost(configuration.RabbitMq, "dedup-worker");
                cfg.ConfigureWorkerEndpoints(context, worker);
            });
        });

        services.AddHealthChecks()
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"])
            .AddCheck<RabbitMqHealthCheck>("rabbitmq", tags: ["ready"]);
        services.AddSingleton<RedisHealthCheck>();
        services.AddSingleton<RabbitMqHealthCheck>();
        services.AddHostedService<HealthReporter>();

        services.AddWorkerTelemetry(configuration.Telemetry, worker.Health);
        return builder;
    }
}
