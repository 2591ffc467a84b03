using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using Dedup.Worker.Settings;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Worker.Hosting;

/// <summary>
/// The worker's queues and consumers, the same on RabbitMQ and on the demo's in-memory transport:
/// <c>payments</c> (<see cref="ChargePayment"/>), <c>quotes</c> (<see cref="GetQuote"/> → <see cref="QuoteIssued"/>) and
/// <c>external-payments</c> (plain JSON <see cref="ExternalPayment"/>, keyed by the AMQP <c>message_id</c>).
/// </summary>
internal static class WorkerEndpoints
{
    /// <summary>Registers the sample consumers.</summary>
    public static void AddWorkerConsumers(this IBusRegistrationConfigurator x)
    {
        x.AddConsumer<ChargePaymentConsumer>();
        x.AddConsumer<GetQuoteConsumer>();
        x.AddConsumer<ExternalPaymentConsumer>();
    }

    /// <summary>
    /// Registers the sample consumers' takeover checks: after a crash between a side effect and its completion, the
    /// ledger answers whether the work happened (README, "Closing the crash window").
    /// </summary>
    public static IServiceCollection AddWorkerTakeoverChecks(this IServiceCollection services) => services
        .AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>()
        .AddDedupTakeoverCheck<ExternalPayment, PaymentTakeoverCheck>()
        .AddDedupTakeoverCheck<GetQuote, GetQuoteTakeoverCheck>();

    /// <summary>The dedup options the endpoints need on top of the configured ones.</summary>
    public static void ConfigureDedup(DedupOptions options) =>
        options.KeyFromContext<ExternalPayment>((ConsumeContext<ExternalPayment> context) => AmqpMessageId.Key(context));

    /// <summary>
    /// Puts the dedup filter on the bus, with the registered <see cref="IWorkerPipeExtension"/>s around and inside it, and
    /// configures the three receive endpoints (on RabbitMQ, their queue type: <see cref="WorkerQueues"/>).
    /// </summary>
    public static void ConfigureWorkerEndpoints(this IBusFactoryConfigurator cfg, IBusRegistrationContext context, WorkerSettings settings)
    {
        // Pre-pipe filters nest in the order they are added: the first added is the outermost.
        var extensions = context.GetServices<IWorkerPipeExtension>().ToList();
        foreach (var extension in extensions)
            extension.ConfigureAroundDedup(cfg);
        cfg.UseDedup(context);
        foreach (var extension in extensions)
            extension.ConfigureInsideDedup(cfg);
        if (cfg is IRabbitMqBusFactoryConfigurator rabbitMq)
            WorkerQueues.ConfigureBus(rabbitMq, settings);

        cfg.ReceiveEndpoint(ChargePaymentConsumer.Queue, e =>
        {
            ConfigureQueue(e, ChargePaymentConsumer.Queue, settings);
            e.ConfigureConsumer<ChargePaymentConsumer>(context);
        });

        cfg.ReceiveEndpoint(GetQuoteConsumer.Queue, e =>
        {
            ConfigureQueue(e, GetQuoteConsumer.Queue, settings);
            e.ConfigureConsumer<GetQuoteConsumer>(context);
        });

        cfg.ReceiveEndpoint(ExternalPaymentConsumer.Queue, e =>
        {
            ConfigureQueue(e, ExternalPaymentConsumer.Queue, settings);

            // Producers that are not MassTransit publish bare JSON (content type application/json, or none) straight
            // to this queue; no MassTransit envelope, no message-type exchange binding.
            e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
            e.ConfigureConsumeTopology = false;
            e.ConfigureConsumer<ExternalPaymentConsumer>(context);
        });
    }

    static void ConfigureQueue(IReceiveEndpointConfigurator endpoint, string queue, WorkerSettings settings)
    {
        endpoint.PrefetchCount = settings.PrefetchCount;
        endpoint.ConcurrentMessageLimit = settings.ConcurrentMessageLimit;
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbitMq)
            WorkerQueues.ConfigureEndpoint(rabbitMq, queue, settings);
    }
}
