using System.CommandLine;
using Dedup.Operations;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dedup.Worker.Operator;

/// <summary>
/// An operator command's view of the worker's configuration: its settings, the dedup store's Redis (connected and
/// answering, or the command stops with <see cref="ExitCodes.DependencyUnavailable"/>) and <see cref="DedupRecords"/> on it.
/// </summary>
internal sealed class OperatorSession : IAsyncDisposable
{
    readonly IHost _host;

    OperatorSession(WorkerConfiguration configuration, IHost host)
    {
        Configuration = configuration;
        _host = host;
        Records = host.Services.GetRequiredService<DedupRecords>();
        Dedup = host.Services.GetRequiredService<IOptions<DedupOptions>>().Value;
    }

    public WorkerConfiguration Configuration { get; }

    /// <summary>The dedup options the worker runs with (section <c>Dedup</c>): key prefix, retention.</summary>
    public DedupOptions Dedup { get; }

    public DedupRecords Records { get; }

    /// <summary>A setting override on the command line, as the worker takes them: <c>--Section:Key=value</c>.</summary>
    public static bool IsOverride(string token) =>
        token.StartsWith("--", StringComparison.Ordinal) && token.IndexOf(':', StringComparison.Ordinal) is > 2 and var colon
        && token.IndexOf('=', StringComparison.Ordinal) > colon;

    /// <summary>Makes <paramref name="command"/> run <paramref name="action"/> in a session, or stop with the exit code of why none opened.</summary>
    public static void SetAction(Command command, Func<ParseResult, OperatorSession, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.UnmatchedTokens.FirstOrDefault(t => !IsOverride(t)) is { } unknown)
            {
                await Console.Error.WriteLineAsync($"Dedup.Worker: unrecognized argument '{unknown}': settings are overridden as --Section:Key=value. Run 'Dedup.Worker {command.Name} --help' for its arguments and options.");
                return ExitCodes.Usage;
            }

            var (session, exitCode) = await OpenAsync(parse, cancellationToken);
            if (session is null)
                return exitCode;
            await using (session)
            {
                try
                {
                    return await action(parse, session, cancellationToken);
                }
                catch (Exception exception) when (exception is ArgumentException or DedupKeyException)
                {
                    await Console.Error.WriteLineAsync($"Dedup.Worker: {exception.Message}");
                    return ExitCodes.Usage;
                }
                catch (DedupTransientException exception)
                {
                    // The store did not answer, or (Dedup:Durability) the replicas did not confirm a forget.
                    await Console.Error.WriteLineAsync($"Dedup.Worker: {exception.Message}");
                    return ExitCodes.DependencyUnavailable;
                }
            }
        });

    /// <summary>Loads the settings as the worker does and connects to the dedup store's Redis; null (with the exit code) when either fails.</summary>
    static async Task<(OperatorSession? Session, int ExitCode)> OpenAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [.. parse.UnmatchedTokens],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Services.AddWorkerConfiguration(builder.Configuration).AddDedupConfiguration(builder.Configuration);
        builder.Services.AddDedup();
        builder.Services.AddSingleton(sp => new RedisConnections(sp.GetRequiredService<RedisSettings>(), sp.GetRequiredService<LedgerSettings>()));
        builder.Services.AddDedupRedisStore(sp => sp.GetRequiredService<RedisConnections>().Dedup);
        var host = builder.Build();
        if (host.ValidateSettings() is { } invalid)
        {
            host.Dispose();
            return (null, invalid);
        }

        var configuration = host.Services.GetRequiredService<WorkerConfiguration>();
        try
        {
            await host.Services.GetRequiredService<RedisConnections>().Dedup.GetDatabase().PingAsync().WaitAsync(configuration.Redis.ConnectTimeout, cancellationToken);
        }
        catch (Exception exception) when (exception is StackExchange.Redis.RedisException or TimeoutException)
        {
            await Console.Error.WriteLineAsync(
                $"Dedup.Worker: Redis at '{RedisSettings.Redact(configuration.Redis.Configuration)}' (Redis:Configuration) did not answer within {configuration.Redis.ConnectTimeout}: {exception.Message}");
            host.Dispose();
            return (null, ExitCodes.DependencyUnavailable);
        }

        return (new OperatorSession(configuration, host), ExitCodes.Ok);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is IAsyncDisposable disposable)
            await disposable.DisposeAsync();
        else
            _host.Dispose();
    }
}
