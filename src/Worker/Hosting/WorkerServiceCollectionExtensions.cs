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
    /// <summary>
    /// Everything the worker runs, its settings bound from <paramref name="builder"/>'s configuration and validated when
    /// the host starts (<see cref="HostRunExtensions.RunWorkerAsync"/>).
    /// </summary>
    public static HostApplicationBuilder AddDedupWorker(this HostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddWorkerConfiguration(builder.Configuration);
        services.AddSingleton<RedisConnections>(sp => new RedisConnections(sp.GetRequiredService<RedisSettings>(), sp.GetRequiredService<LedgerSettings>()));

        // The host reads HostOptions while it is built, before the start-up validation that names every wrong setting:
        // a Worker section that does not bind or validate leaves the default here, and that validation stops the start.
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerSettings>>((o, worker) =>
        {
            try
            {
                o.ShutdownTimeout = worker.Value.StopTimeout;
            }
            catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException)
            {
                // Reported by the validation.
            }
        });
        services.AddOptions<MassTransitHostOptions>().Configure<RabbitMqSettings, WorkerSettings>((o, rabbitMq, worker) =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = rabbitMq.ConnectTimeout * 2;
            o.StopTimeout = worker.StopTimeout;
            o.ConsumerStopTimeout = worker.ConsumerStopTimeout;
        });

        // First: Redis and RabbitMQ must answer before the bus starts taking messages.
        services.AddHostedService<DependencyCheck>();
        services.AddHostedService<WorkerLifetimeLog>();

        // Then the health endpoint: a port in use stops the start before the bus takes a message.
        services.AddHostedService<HealthReporter>();

        services.AddDedup(WorkerEndpoints.ConfigureDedup);
        services.AddDedupConfiguration(builder.Configuration);
        services.AddDedupRedisStore(sp => sp.GetRequiredService<RedisConnections>().Dedup);
        services.AddSingleton<ILedger>(sp => new RedisLedger(
            sp.GetRequiredService<RedisConnections>().Ledger, sp.GetRequiredService<LedgerSettings>(), sp.GetRequiredService<IOptions<DedupOptions>>().Value));
        services.AddWorkerTakeoverChecks();

        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddWorkerConsumers();
            x.UsingRabbitMq((context, cfg) =>
            {
                var configuration = context.GetRequiredService<WorkerConfiguration>();
                var worker = configuration.Worker;
                cfg.ConfigureHost(configuration.RabbitMq, "dedup-worker");
                cfg.ConfigureWorkerEndpoints(context, worker);
            });
        });

        services.AddHealthChecks()
            .AddCheck<RedisHealthCheck>("redis", tags: ["ready"])
            .AddCheck<RabbitMqHealthCheck>("rabbitmq", tags: ["ready"]);
        services.AddSingleton<RedisHealthCheck>();
        services.AddSingleton<RabbitMqHealthCheck>();

        services.AddWorkerTelemetry(builder.Configuration);
        return builder;
    }
}
