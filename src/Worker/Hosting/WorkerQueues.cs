using Dedup.Worker.Consumers;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Hosting;

/// <summary>
/// The RabbitMQ queues the worker declares (<see cref="WorkerSettings.QueueType"/>), with their arguments: the one place
/// both the receive endpoints and the start-up check (<see cref="QueueArgumentsCheck"/>) take them from.
/// </summary>
/// <remarks>
/// Quorum: each endpoint's queue gets <c>x-delivery-limit</c> and dead-letters a message over it to the fanout exchange
/// <c>&lt;queue&gt;_error</c>, MassTransit's own error exchange, bound to the <c>&lt;queue&gt;_error</c> queue. Both are
/// declared at start (<c>BindDeadLetterQueue</c>), so the route exists before the first fault, and dead-lettering is
/// at-least-once (RabbitMQ 3.10+; it needs <c>x-overflow</c> <c>reject-publish</c>): RabbitMQ keeps the message until
/// the error queue has confirmed it, where at-most-once would drop it whenever the route is missing. The error and
/// skipped queues are quorum queues too, without a limit or a route of their own: nothing may drop what lands there.
/// </remarks>
internal static class WorkerQueues
{
    /// <summary>The endpoints' queues.</summary>
    public static readonly IReadOnlyList<string> Names = [ChargePaymentConsumer.Queue, GetQuoteConsumer.Queue, ExternalPaymentConsumer.Queue];

    const string QueueTypeArgument = "x-queue-type";
    const string DeliveryLimitArgument = "x-delivery-limit";
    const string DeadLetterExchangeArgument = "x-dead-letter-exchange";
    const string DeadLetterStrategyArgument = "x-dead-letter-strategy";
    const string OverflowArgument = "x-overflow";

    /// <summary>MassTransit's error queue (and exchange) of <paramref name="queue"/>.</summary>
    public static string ErrorQueue(string queue) => queue + "_error";

    /// <summary>MassTransit's queue (and exchange) for messages no consumer of <paramref name="queue"/> takes.</summary>
    public static string SkippedQueue(string queue) => queue + "_skipped";

    /// <summary>The arguments of an endpoint's own queue.</summary>
    public static IReadOnlyDictionary<string, object> EndpointArguments(string queue, WorkerSettings settings) =>
        settings.QueueType == WorkerQueueType.Quorum
            ? new Dictionary<string, object>(StringComparer.Ordinal)
            {
                [QueueTypeArgument] = "quorum",
                [DeliveryLimitArgument] = settings.EffectiveDeliveryLimit,
                [DeadLetterExchangeArgument] = ErrorQueue(queue),
                [DeadLetterStrategyArgument] = "at-least-once",
                [OverflowArgument] = "reject-publish",
            }
            : new Dictionary<string, object>(StringComparer.Ordinal);

    /// <summary>The arguments of an endpoint's <c>_error</c> and <c>_skipped</c> queues.</summary>
    public static IReadOnlyDictionary<string, object> SideQueueArguments(WorkerSettings settings) =>
        settings.QueueType == WorkerQueueType.Quorum
            ? new Dictionary<string, object>(StringComparer.Ordinal) { [QueueTypeArgument] = "quorum" }
            : new Dictionary<string, object>(StringComparer.Ordinal);

    /// <summary>Every queue the worker declares, with its arguments: each endpoint's queue, its error and skipped queue.</summary>
    public static IEnumerable<(string Queue, IReadOnlyDictionary<string, object> Arguments)> All(WorkerSettings settings) =>
        Names.SelectMany(queue => new[]
        {
            (queue, EndpointArguments(queue, settings)),
            (ErrorQueue(queue), SideQueueArguments(settings)),
            (SkippedQueue(queue), SideQueueArguments(settings)),
        });

    /// <summary>For the start-up log: "classic queues" or the quorum settings.</summary>
    public static string Describe(WorkerSettings settings) => settings.QueueType == WorkerQueueType.Quorum
        ? $"quorum queues, delivery limit {settings.EffectiveDeliveryLimit}, then dead-lettered to <queue>_error"
        : "classic queues";

    /// <summary>
    /// MassTransit declares an endpoint's error and skipped queues with the arguments of the endpoint's queue: take the
    /// delivery limit and the dead-letter route off them, so they match <see cref="SideQueueArguments"/> (what
    /// <see cref="ConfigureEndpoint"/> declares at start and the start-up check expects).
    /// </summary>
    public static void ConfigureBus(IRabbitMqBusFactoryConfigurator cfg, WorkerSettings settings)
    {
        if (settings.QueueType != WorkerQueueType.Quorum)
            return;

        cfg.SendTopology.ConfigureErrorSettings = StripEndpointArguments;
        cfg.SendTopology.ConfigureDeadLetterSettings = StripEndpointArguments;
    }

    /// <summary>Declares an endpoint's queue with <see cref="EndpointArguments"/> and, for quorum, its dead-letter route.</summary>
    public static void ConfigureEndpoint(IRabbitMqReceiveEndpointConfigurator endpoint, string queue, WorkerSettings settings)
    {
        if (settings.QueueType != WorkerQueueType.Quorum)
            return;

        endpoint.SetQuorumQueue();
        foreach (var (key, value) in EndpointArguments(queue, settings))
            endpoint.SetQueueArgument(key, value);

        endpoint.BindDeadLetterQueue(ErrorQueue(queue), ErrorQueue(queue), error =>
        {
            foreach (var (key, value) in SideQueueArguments(settings))
                error.SetQueueArgument(key, value);
        });
    }

    static void StripEndpointArguments(IRabbitMqQueueBindingConfigurator queue)
    {
        foreach (var key in new[] { DeliveryLimitArgument, DeadLetterExchangeArgument, DeadLetterStrategyArgument, OverflowArgument })
            queue.SetQueueArgument(key, null);
    }
}
