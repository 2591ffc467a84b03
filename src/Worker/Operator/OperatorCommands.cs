using System.CommandLine;

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

    /// <summary>Makes a command pass the tokens it does not know on as setting overrides (checked by <see cref="OperatorSession.SetAction"/>).</summary>
    internal static Command AcceptingSettings(this Command command)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        return command;
    }
}
