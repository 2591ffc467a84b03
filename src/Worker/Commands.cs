using System.CommandLine;
using Dedup.Worker.Cli;
using Dedup.Worker.Demo;
using Dedup.Worker.Health;
using Dedup.Worker.Hosting;
using Dedup.Worker.Operator;
using Dedup.Worker.Traffic;

namespace Dedup.Worker;

/// <summary>
/// The command line (System.CommandLine): no command runs the worker; every other mode is a <see cref="Command"/>
/// listed in <see cref="Subcommands"/>. Help, option parsing and errors come from System.CommandLine; a wrong command
/// line exits with <see cref="ExitCodes.Usage"/>.
/// </summary>
internal static class Commands
{
    /// <summary>The commands besides the worker, one line each.</summary>
    static IEnumerable<Command> Subcommands() =>
    [
        DemoCommand.Create(),
        TrafficCommand.Create(),
        HealthCommand.Create(),
        .. OperatorCommands.All(),
    ];

    /// <summary>Parses <paramref name="args"/> and runs what they name; <paramref name="runWorker"/> runs the worker with its settings arguments.</summary>
    public static async Task<int> RunAsync(string[] args, Func<string[], Task<int>> runWorker)
    {
        var parseResult = Create(runWorker).Parse(args, new ParserConfiguration
        {
            // A setting's value may begin with '@' (a password): no response files.
            ResponseFileTokenReplacer = null,
        });
        var exitCode = await parseResult.InvokeAsync(new InvocationConfiguration
        {
            // The worker's host stops gracefully on SIGTERM and Ctrl+C (Worker:StopTimeout); System.CommandLine must
            // not take those signals and end the process after its own 2 s.
            ProcessTerminationTimeout = null,

            // A crash keeps .NET's exit code and stack trace instead of becoming 1, which means "the checks failed".
            EnableDefaultExceptionHandler = false,
        });

        // System.CommandLine printed the errors and the help, and returns 1 for them.
        return parseResult.Errors.Count > 0 ? ExitCodes.Usage : exitCode;
    }

    /// <summary>The root command: the worker, with every other mode as a subcommand.</summary>
    public static RootCommand Create(Func<string[], Task<int>> runWorker)
    {
        var root = new RootCommand(
            """
            Dedup worker: MassTransit consumers on RabbitMQ made effectively-once with Redis.
            Without a command it runs the worker. Settings come from appsettings.json, then environment variables
            (RabbitMq__Host=rabbit-a), then --Section:Key=value arguments (--RabbitMq:Host=rabbit-a); README, "Configuration".
            Exit codes: 0 stopped cleanly or the checks passed, 1 a check failed, 2 a setting is wrong,
            3 Redis or RabbitMQ unreachable or refused at start (or the health port taken), 64 a wrong command line.
            """);
        foreach (var command in Subcommands())
            root.Subcommands.Add(command);

        var settings = SettingsArgument.Create();
        root.Arguments.Add(settings);
        root.SetAction(parseResult => runWorker(parseResult.Values(settings)));
        return root;
    }
}
