using System.CommandLine;
using Dedup.Worker.Hosting;

namespace Dedup.Worker.Operator;

/// <summary>
/// The operator's commands (README, "Operating"): <c>inspect</c> and <c>forget</c> a message's dedup record, and
/// <c>stats</c> of all records. They read the worker's settings (<c>Redis:Configuration</c>, <c>Dedup:*</c>,
/// <c>RabbitMq:VirtualHost</c>) from appsettings.json, the environment and <c>--Section:Key=value</c> arguments.
/// </summary>
internal static class OperatorCommands
{
    /// <summary>Exit code of a forget that refused a live lease (nothing was written).</summary>
    public const int Refused = 1;

    /// <summary>The commands, to add to the worker's root command.</summary>
    public static Command[] All() => [InspectCommand.Create(), ForgetCommand.Create(), StatsCommand.Create()];

    /// <summary>Parses <paramref name="args"/> (the command name first) and runs the command.</summary>
    public static async Task<int> InvokeAsync(string[] args)
    {
        var root = new RootCommand("Dedup.Worker: the operator's commands.");
        foreach (var command in All())
            root.Subcommands.Add(command);

        var result = root.Parse(args);
        var errors = result.Errors.Select(e => e.Message)
            .Concat(result.UnmatchedTokens.Where(t => !OperatorSession.IsOverride(t)).Select(t => $"Unrecognized argument '{t}': settings are overridden as --Section:Key=value."))
            .ToList();
        if (errors.Count == 0)
            return await result.InvokeAsync();

        foreach (var error in errors)
            await Console.Error.WriteLineAsync($"Dedup.Worker: {error}");
        await Console.Error.WriteLineAsync($"Run 'Dedup.Worker {args[0]} --help' for its arguments and options.");
        return ExitCodes.Usage;
    }

    /// <summary>Makes a command pass the tokens it does not know on as setting overrides (checked in <see cref="InvokeAsync"/>).</summary>
    internal static Command AcceptingSettings(this Command command)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        return command;
    }
}
