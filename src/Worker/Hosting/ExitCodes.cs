namespace Dedup.Worker.Hosting;

/// <summary>The process's exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>Ran and stopped cleanly (or the demo's checks passed).</summary>
    public const int Ok = 0;

    /// <summary>The demo's or the traffic run's checks failed: a message ran other than once, or was lost.</summary>
    public const int CheckFailed = 1;

    /// <summary>A setting is wrong; the message names it.</summary>
    public const int ConfigurationInvalid = 2;

    /// <summary>Redis or RabbitMQ could not be reached at start (or refused the credentials).</summary>
    public const int DependencyUnavailable = 3;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 64;

    /// <summary>Prints the configuration failures to standard error and returns <see cref="ConfigurationInvalid"/>.</summary>
    public static int ReportInvalidConfiguration(IReadOnlyList<string> failures)
    {
        Console.Error.WriteLine("Dedup worker: the configuration is invalid. Settings come from appsettings.json, then environment variables (':' written as '__', e.g. RabbitMq__Port), then the command line:");
        foreach (var failure in failures)
            Console.Error.WriteLine($"  - {failure}");
        return ConfigurationInvalid;
    }
}
