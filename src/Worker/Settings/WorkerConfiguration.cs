namespace Dedup.Worker.Settings;

/// <summary>
/// All of the worker's settings sections, as validated at start (<see cref="WorkerConfigurationServiceCollectionExtensions.AddWorkerConfiguration"/>),
/// for the services that describe or check more than one of them.
/// </summary>
internal sealed record WorkerConfiguration(
    RabbitMqSettings RabbitMq,
    RedisSettings Redis,
    LedgerSettings Ledger,
    WorkerSettings Worker,
    TelemetrySettings Telemetry);
