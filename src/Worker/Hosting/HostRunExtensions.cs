using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Hosting;

/// <summary>Runs the worker's host and turns start-up failures into exit codes with a message that says what to fix.</summary>
internal static class HostRunExtensions
{
    public static async Task<int> RunWorkerAsync(this IHost host)
    {
        if (host.ValidateSettings() is { } invalid)
            return invalid;

        try
        {
            await host.StartAsync();
        }
        catch (Exception exception) when (Find<OptionsValidationException>(exception) is { } invalidOptions)
        {
            return ExitCodes.ReportInvalidConfiguration([.. invalidOptions.Failures]);
        }
        catch (Exception exception) when (Find<StartupCheckException>(exception) is { } unreachable)
        {
            await Console.Error.WriteLineAsync($"Dedup worker: not started. {unreachable.Message}");
            return ExitCodes.DependencyUnavailable;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            await Console.Error.WriteLineAsync($"Dedup worker: not started. {exception.GetType().Name}: {exception.Message}");
            return ExitCodes.DependencyUnavailable;
        }

        await host.WaitForShutdownAsync();
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Runs every <c>ValidateOnStart</c> validation now, before <see cref="IHost.StartAsync"/>: the host creates its
    /// hosted services (whose constructors take settings) before it validates, and the first of them to meet a wrong
    /// section would stop the start naming only that one. Returns null when every setting is valid; otherwise prints
    /// each failure and returns <see cref="ExitCodes.ConfigurationInvalid"/>.
    /// </summary>
    public static int? ValidateSettings(this IHost host)
    {
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate();
            return null;
        }
        catch (OptionsValidationException exception)
        {
            return ExitCodes.ReportInvalidConfiguration([.. exception.Failures]);
        }
        catch (AggregateException exception) when (exception.InnerExceptions.All(e => e is OptionsValidationException))
        {
            return ExitCodes.ReportInvalidConfiguration([.. exception.InnerExceptions.SelectMany(e => ((OptionsValidationException)e).Failures)]);
        }
        catch (InvalidOperationException exception) when (exception.TargetSite?.DeclaringType == typeof(ConfigurationBinder))
        {
            // A value the binder cannot convert (a port that is not a number, an unknown name): it stops the validation
            // of the other sections, so it is reported alone. "Failed to convert configuration value 'x' at 'RabbitMq:Port' to type ..."
            return ExitCodes.ReportInvalidConfiguration([exception.Message]);
        }
    }

    static T? Find<T>(Exception exception)
        where T : Exception
    {
        if (exception is T match)
            return match;
        if (exception is AggregateException aggregate)
            return aggregate.InnerExceptions.Select(Find<T>).FirstOrDefault(e => e is not null);
        return exception.InnerException is { } inner ? Find<T>(inner) : null;
    }
}
