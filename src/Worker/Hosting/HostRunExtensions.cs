using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Hosting;

/// <summary>Runs the worker's host and turns start-up failures into exit codes with a message that says what to fix.</summary>
internal static class HostRunExtensions
{
    public static async Task<int> RunWorkerAsync(this IHost host)
    {
        try
        {
            await host.StartAsync();
        }
        catch (Exception exception) when (Find<OptionsValidationException>(exception) is { } invalid)
        {
            return ExitCodes.ReportInvalidConfiguration([.. invalid.Failures]);
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
