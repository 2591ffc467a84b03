using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Settings;

/// <summary>
/// All of the worker's settings, bound from configuration (appsettings.json, then environment variables, then the
/// command line) and validated before anything starts, so a wrong value stops the process with every problem named.
/// </summary>
internal sealed record WorkerConfiguration(
    RabbitMqSettings RabbitMq,
    RedisSettings Redis,
    LedgerSettings Ledger,
    WorkerSettings Worker,
    TelemetrySettings Telemetry)
{
    /// <summary>Binds and validates every section; <paramref name="failures"/> names each wrong setting and its value.</summary>
    public static WorkerConfiguration? Load(IConfiguration configuration, out IReadOnlyList<string> failures)
    {
        var errors = new List<string>();
        var rabbitMq = Bind<RabbitMqSettings>(configuration, RabbitMqSettings.Section, errors);
        var redis = Bind<RedisSettings>(configuration, RedisSettings.Section, errors);
        var ledger = Bind<LedgerSettings>(configuration, LedgerSettings.Section, errors);
        var worker = Bind<WorkerSettings>(configuration, WorkerSettings.Section, errors);
        var telemetry = Bind<TelemetrySettings>(configuration, TelemetrySettings.Section, errors);
        errors.AddRange(rabbitMq?.Validate() ?? []);
        errors.AddRange(redis?.Validate() ?? []);
        errors.AddRange(ledger?.Validate() ?? []);
        errors.AddRange(worker?.Validate() ?? []);
        errors.AddRange(telemetry?.Validate() ?? []);
        errors.AddRange(ValidateDedup(configuration));

        failures = errors;
        return errors.Count == 0 ? new WorkerConfiguration(rabbitMq!, redis!, ledger!, worker!, telemetry!) : null;
    }

    /// <summary>Binds the <c>Dedup</c> section onto the library's options (the library validates them at start too).</summary>
    public static void BindDedup(IServiceCollection services, IConfiguration configuration) =>
        services.AddOptions<DedupOptions>().Bind(configuration.GetSection("Dedup"));

    static T? Bind<T>(IConfiguration configuration, string section, List<string> errors)
        where T : new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException exception)
        {
            // The binder names the key: "Failed to convert configuration value at 'RabbitMq:Port' to type 'System.Int32'."
            errors.Add(exception.Message + (exception.InnerException is { } inner ? $" ({inner.Message})" : string.Empty));
            return default;
        }
    }

    static IEnumerable<string> ValidateDedup(IConfiguration configuration)
    {
        // The library's own validator (internal) runs through the options pipeline it registers.
        var services = new ServiceCollection();
        services.AddDedup();
        BindDedup(services, configuration);
        using var provider = services.BuildServiceProvider();
        try
        {
            _ = provider.GetRequiredService<IOptions<DedupOptions>>().Value;
            return [];
        }
        catch (OptionsValidationException exception)
        {
            return exception.Failures;
        }
        catch (InvalidOperationException exception)
        {
            return [exception.Message];
        }
    }
}
