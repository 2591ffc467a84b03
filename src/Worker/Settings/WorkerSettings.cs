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
        if (PaymentWorkTime < TimeSpan.Zero || PaymentWorkTime > TimeSpan.FromMinutes(10))
            yield return $"Worker:PaymentWorkTime must be between 0 and 00:10:00; it is {PaymentWorkTime}.";
        if (QuoteWorkTime < TimeSpan.Zero || QuoteWorkTime > TimeSpan.FromMinutes(10))
            yield return $"Worker:QuoteWorkTime must be between 0 and 00:10:00; it is {QuoteWorkTime}.";
        if (Health.Port is < 0 or > 65535)
            yield return $"Worker:Health:Port must be 0 (off) to 65535; it is {Health.Port}.";
        if (Health.Interval < TimeSpan.FromSeconds(1) || Health.Interval > TimeSpan.FromMinutes(10))
            yield return $"Worker:Health:Interval must be between 00:00:01 and 00:10:00; it is {Health.Interval}.";
    }
}

/// <summary>Health reporting: section <c>Worker:Health</c>.</summary>
public sealed class HealthSettings
{
    /// <summary>Loopback port of the HTTP health endpoint (<c>GET /health</c>); 0 turns it off. Default 0.</summary>
    public int Port { get; set; }

    /// <summary>How often the checks run in the background; a change of status is logged. Default 10 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);
}
