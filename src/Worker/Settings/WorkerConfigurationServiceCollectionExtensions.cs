using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Settings;

/// <summary>
/// Binds the worker's settings (appsettings.json, then environment variables, then <c>--Section:Key=value</c>
/// arguments) to options validated when the host starts, so a wrong value stops the process with every problem named
/// before anything connects (<see cref="Hosting.HostRunExtensions.ValidateSettings"/>: exit code 2).
/// </summary>
internal static class WorkerConfigurationServiceCollectionExtensions
{
    /// <summary>The section of the library's <see cref="DedupOptions"/>.</summary>
    public const string DedupSection = "Dedup";

    /// <summary>
    /// Sections <c>RabbitMq</c>, <c>Redis</c>, <c>Ledger</c>, <c>Worker</c> and <c>Telemetry</c>: each as options, as a
    /// singleton of its own type (what the consumers, checks and connections take), and all together as <see cref="WorkerConfiguration"/>.
    /// </summary>
    public static IServiceCollection AddWorkerConfiguration(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettings<RabbitMqSettings>(configuration, RabbitMqSettings.Section, s => s.Validate());
        services.AddSettings<RedisSettings>(configuration, RedisSettings.Section, s => s.Validate());
        services.AddSettings<LedgerSettings>(configuration, LedgerSettings.Section, s => s.Validate());
        services.AddSettings<WorkerSettings>(configuration, WorkerSettings.Section, s => s.Validate());
        services.AddSettings<TelemetrySettings>(configuration, TelemetrySettings.Section, s => s.Validate());
        services.AddSingleton(sp => new WorkerConfiguration(
            sp.GetRequiredService<RabbitMqSettings>(),
            sp.GetRequiredService<RedisSettings>(),
            sp.GetRequiredService<LedgerSettings>(),
            sp.GetRequiredService<WorkerSettings>(),
            sp.GetRequiredService<TelemetrySettings>()));
        return services;
    }

    /// <summary>Binds section <c>Dedup</c> onto the library's options; <c>AddDedup</c> registers their validator.</summary>
    public static IServiceCollection AddDedupConfiguration(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DedupOptions>().Bind(configuration.GetSection(DedupSection)).ValidateOnStart();
        return services;
    }

    static void AddSettings<T>(this IServiceCollection services, IConfiguration configuration, string section, Func<T, IEnumerable<string>> rules)
        where T : class
    {
        services.AddOptions<T>().Bind(configuration.GetSection(section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new SettingsValidator<T>(rules));
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
    }
}
