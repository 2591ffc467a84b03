using System.CommandLine;
using System.CommandLine.Parsing;

namespace Dedup.Worker.Cli;

/// <summary>
/// A command's <c>--Section:Key=value</c> arguments: settings that override appsettings.json and environment
/// variables, handed to configuration as they are (its command-line form; <c>--Section:Key value</c> works too).
/// Anything else is an error, so a mistyped option is not quietly taken for a setting.
/// </summary>
internal static class SettingsArgument
{
    const string Example = "--Section:Key=value (e.g. --RabbitMq:Host=rabbit-a)";

    /// <summary>A new argument for one command (System.CommandLine gives each symbol one parent).</summary>
    /// <remarks>
    /// Hidden from help, which would list every command as <c>demo &lt;--Section:Key=value&gt;</c> as if it were
    /// required: the command's description names the settings it reads instead.
    /// </remarks>
    public static Argument<string[]> Create()
    {
        var argument = new Argument<string[]>("--Section:Key=value")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Settings, overriding appsettings.json and environment variables (README, \"Configuration\").",
            Hidden = true,
        };
        argument.Validators.Add(Validate);
        return argument;
    }

    /// <summary>The settings given, for <c>HostApplicationBuilderSettings.Args</c> or <c>AddCommandLine</c>.</summary>
    public static string[] Values(this ParseResult parseResult, Argument<string[]> argument) => parseResult.GetValue(argument) ?? [];

    static void Validate(ArgumentResult result)
    {
        var tokens = result.Tokens;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i].Value;
            var prefixed = token.StartsWith("--", StringComparison.Ordinal) || token.StartsWith('/');
            var setting = prefixed ? token.TrimStart('-', '/') : token;
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? setting : setting[..equals];

            // Configuration's forms: "--key value", "--key=value", "/key=value" or "key=value". A single dash would need a
            // switch mapping (configuration refuses "-key=value"), and a key without a section is no setting of the worker.
            var singleDash = token.StartsWith('-') && !prefixed;
            var isSetting = !singleDash && (prefixed || equals > 0)
                && key.Contains(':', StringComparison.Ordinal) && !key.StartsWith(':') && !key.EndsWith(':');
            if (!isSetting)
            {
                result.AddError(token.StartsWith('-')
                    ? $"Unrecognized option '{token}': see --help for the options; a setting is {Example}."
                    : $"Unrecognized command or argument '{token}': see --help; a setting is {Example}.");
            }
            else if (equals < 0 && ++i >= tokens.Count)
            {
                result.AddError($"The setting '{token}' has no value: {Example}.");
            }
        }
    }
}
