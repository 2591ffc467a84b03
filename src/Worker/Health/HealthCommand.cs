using System.Net;
using System.CommandLine;
using Dedup.Worker.Cli;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Configuration;

namespace Dedup.Worker.Health;

/// <summary>
/// <c>Dedup.Worker health</c>: asks a running worker's health endpoint (<c>Worker:Health:Port</c>, same configuration
/// as the worker) and exits 0 when it answers 200. The container image has no curl; this is its health check.
/// </summary>
internal static class HealthCommand
{
    public static Command Create()
    {
        var settings = SettingsArgument.Create();
        var command = new Command("health",
            """
            Probe a running worker's health endpoint, http://<Worker:Health:Address>:<Worker:Health:Port>/health (loopback
            when the address is 0.0.0.0; the container's health check): exit 0 when it answers 200. Settings as the
            worker's (e.g. --Worker:Health:Port=8080).
            """)
        {
            settings,
        };
        command.SetAction(parseResult => RunAsync(parseResult.Values(settings)));
        return command;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        var health = configuration.GetSection(WorkerSettings.Section).Get<WorkerSettings>()?.Health ?? new HealthSettings();
        if (health.Port <= 0)
        {
            await Console.Error.WriteLineAsync("Worker:Health:Port is 0, so the worker serves no health endpoint; set it (e.g. Worker__Health__Port=8080).");
            return ExitCodes.ConfigurationInvalid;
        }

        if (!IPAddress.TryParse(health.Address, out var bound))
        {
            await Console.Error.WriteLineAsync($"Worker:Health:Address must be an IP address; it is '{health.Address}'.");
            return ExitCodes.ConfigurationInvalid;
        }

        // The address the worker binds; one that stands for every interface is probed on this machine's loopback.
        var address = bound.Equals(IPAddress.Any) ? IPAddress.Loopback : bound.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : bound;
        var url = new UriBuilder("http", address.ToString(), health.Port, "/health").Uri;

        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(url);
            Console.WriteLine(await response.Content.ReadAsStringAsync());
            return response.IsSuccessStatusCode ? ExitCodes.Ok : ExitCodes.CheckFailed;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"No answer from {url}: {exception.Message}");
            return ExitCodes.CheckFailed;
        }
    }
}
