namespace Dedup.Worker.Settings;

/// <summary>The worker's own settings: section <c>Worker</c>.</summary>
public sealed class WorkerSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Worker";

    /// <summary>
    /// How long a stop (SIGTERM, Ctrl+C) may take in all (the host's <c>ShutdownTimeout</c>). Default 30 s; 1 s to
    /// 10 min. Keep the container's stop grace period longer.
    /// </summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long running consumers may go on after a stop begins; then their <c>CancellationToken</c> is cancelled,
    /// they fail, and their claims are released so a redelivery runs them. Default 20 s; less than <see cref="StopTimeout"/>.
    /// </summary>
    public TimeSpan ConsumerStopTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How many messages each queue runs at once in this process. Default 16; 1 to 1000.</summary>
    public int ConcurrentMessageLimit { get; set; } = 16;

    /// <summary>How many unacknowledged messages RabbitMQ hands this process per queue. Default 32; 1 to 10000.</summary>
    public int PrefetchCount { get; set; } = 32;

    /// <summary>
    /// The type of the queues <c>payments</c>, <c>quotes</c> and <c>external-payments</c> (and their <c>_error</c> and
    /// <c>_skipped</c> queues). Default <see cref="WorkerQueueType.Classic"/>. RabbitMQ cannot change the type of an existing
    /// queue: the worker refuses to start when one exists with another type.
    /// </summary>
    public WorkerQueueType QueueType { get; set; } = WorkerQueueType.Classic;

    /// <summary>
    /// Quorum queues only: how often RabbitMQ may return a message to the queue (a worker crashed, lost its connection or
    /// stopped while holding it, or a nack) before it dead-letters the message to <c>&lt;queue&gt;_error</c> instead.
    /// Default <see cref="DefaultDeliveryLimit"/>; 1 to 10000. A transient dedup failure costs at most one return per copy.
    /// </summary>
    public int? DeliveryLimit { get; set; }

    /// <summary>The delivery limit of quorum queues when <see cref="DeliveryLimit"/> is not set: RabbitMQ 4's own default.</summary>
    public const int DefaultDeliveryLimit = 20;

    /// <summary>The delivery limit the worker declares on quorum queues.</summary>
    internal int EffectiveDeliveryLimit => DeliveryLimit ?? DefaultDeliveryLimit;

    /// <summary>Simulated work per payment before the ledger write (stands for a call to a payment provider). Default 0; at most 10 min.</summary>
    public TimeSpan PaymentWorkTime { get; set; } = TimeSpan.Zero;

    /// <summary>Simulated work per quote. Default 0; at most 10 min.</summary>
    public TimeSpan QuoteWorkTime { get; set; } = TimeSpan.Zero;

    /// <summary>Health reporting.</summary>
    public HealthSettings Health { get; set; } = new();

    internal IEnumerable<string> Validate()
    {
        if (StopTimeout < TimeSpan.FromSeconds(1) || StopTimeout > TimeSpan.FromMinutes(10))
            yield return $"Worker:StopTimeout must be between 00:00:01 and 00:10:00; it is {StopTimeout}.";
        if (ConsumerStopTimeout < TimeSpan.Zero || ConsumerStopTimeout >= StopTimeout)
            yield return $"Worker:ConsumerStopTimeout must be at least 0 and less than Worker:StopTimeout ({StopTimeout}), so claims can be released before the process ends; it is {ConsumerStopTimeout}.";
        if (ConcurrentMessageLimit is < 1 or > 1000)
            yield return $"Worker:ConcurrentMessageLimit must be 1 to 1000; it is {ConcurrentMessageLimit}.";
        if (PrefetchCount is < 1 or > 10_000)
            yield return $"Worker:PrefetchCount must be 1 to 10000; it is {PrefetchCount}.";
        if (!Enum.IsDefined(QueueType))
            yield return $"Worker:QueueType must be Classic or Quorum; it is {QueueType}.";
        else if (DeliveryLimit is { } limit && QueueType != WorkerQueueType.Quorum)
            yield return $"Worker:DeliveryLimit applies to quorum queues only (a classic queue has no delivery limit); set Worker:QueueType=Quorum or remove Worker:DeliveryLimit. It is {limit}, Worker:QueueType is {QueueType}.";
        else if (DeliveryLimit is < 1 or > 10_000)
            yield return $"Worker:DeliveryLimit must be 1 to 10000 (returns to the queue before RabbitMQ dead-letters a message to its _error queue); it is {DeliveryLimit}.";
        if (PaymentWorkTime < TimeSpan.Zero || PaymentWorkTime > TimeSpan.FromMinutes(10))
            yield return $"Worker:PaymentWorkTime must be between 0 and 00:10:00; it is {PaymentWorkTime}.";
        if (QuoteWorkTime < TimeSpan.Zero || QuoteWorkTime > TimeSpan.FromMinutes(10))
            yield return $"Worker:QuoteWorkTime must be between 0 and 00:10:00; it is {QuoteWorkTime}.";
        if (Health.Port is < 0 or > 65535)
            yield return $"Worker:Health:Port must be 0 (off) to 65535; it is {Health.Port}.";
        if (!System.Net.IPAddress.TryParse(Health.Address, out _))
            yield return $"Worker:Health:Address must be an IP address (127.0.0.1: this machine only; 0.0.0.0: every interface, e.g. in a container); it is '{Health.Address}'.";
        if (Health.Interval < TimeSpan.FromSeconds(1) || Health.Interval > TimeSpan.FromMinutes(10))
            yield return $"Worker:Health:Interval must be between 00:00:01 and 00:10:00; it is {Health.Interval}.";
    }
}

/// <summary>Health reporting: section <c>Worker:Health</c>.</summary>
public sealed class HealthSettings
{
    /// <summary>Port of the HTTP endpoint (<c>GET /health</c>, <c>GET /metrics</c>); 0 turns it off. Default 0.</summary>
    public int Port { get; set; }

    /// <summary>The address the endpoint binds. Default <c>127.0.0.1</c>; <c>0.0.0.0</c> in a container, for a scraper.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>How often the checks run in the background; a change of status is logged. Default 10 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);
}
