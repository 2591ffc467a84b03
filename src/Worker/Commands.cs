using System.Globalization;
using Dedup.Worker.Demo;
using Dedup.Worker.Health;
using Dedup.Worker.Hosting;
using Dedup.Worker.Operator;
using Dedup.Worker.Traffic;

namespace Dedup.Worker;

/// <summary>
/// The command line: no command runs the worker; <c>demo</c>, <c>traffic</c>, <c>health</c> and the operator's
/// <c>inspect</c>, <c>forget</c> and <c>stats</c> (<see cref="OperatorCommands"/>) run the others.
/// </summary>
internal static class Commands
{
    const string Usage = """
        usage:
          Dedup.Worker                       run the worker (RabbitMQ + Redis; settings from appsettings.json and environment)
          Dedup.Worker demo [options]        the embedded demo (in-memory transport and store): exit 0 when every message ran once
              --payments N (2000) --requests N (400) --external-share X (0.2) --dup-share X (0.3)
              --concurrent-share X (0.5) --conflicts N (3) --concurrency N (16) --seed N (random) --timeout SECONDS (50)
          Dedup.Worker traffic [options]     drive a real RabbitMQ (settings RabbitMq:*, Redis:*, Ledger:* as for the worker)
              --count N (10000) --requests N (count/10) --external-share X (0.2) --dup-share X (0.3)
              --concurrent-share X (0.5) --concurrency N (32) --rate MSG_PER_S (0 = as fast as possible)
              --seed N (random) --timeout SECONDS (300)
          Dedup.Worker health                probe http://127.0.0.1:<Worker:Health:Port>/health; exit 0 when healthy
          Dedup.Worker inspect|forget|stats  a message's dedup record, forgetting it, all records by state (--help for each)
        Any other --Section:Key=value argument overrides a setting.
        """;

    /// <summary>The task of a command other than the worker, or null to run the worker.</summary>
    public static Task<int>? Dispatch(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-') && args[0] is not ("-h" or "--help"))
            return null;

        var rest = args[1..];
        try
        {
            return args[0] switch
            {
                "demo" => DemoCommand.RunAsync(Options.Parse(rest, DemoCommand.OptionNames)),
                "traffic" => TrafficCommand.RunAsync(Options.Parse(rest, TrafficCommand.OptionNames)),
                "health" => HealthCommand.RunAsync(rest),
                "inspect" or "forget" or "stats" => OperatorCommands.InvokeAsync(args),
                "-h" or "--help" or "help" => Task.FromResult(PrintUsage(null)),
                _ => Task.FromResult(PrintUsage($"unknown command '{args[0]}'")),
            };
        }
        catch (UsageException exception)
        {
            return Task.FromResult(PrintUsage(exception.Message));
        }
    }

    static int PrintUsage(string? error)
    {
        if (error is null)
        {
            Console.WriteLine(Usage);
            return ExitCodes.Ok;
        }

        Console.Error.WriteLine($"Dedup.Worker: {error}");
        Console.Error.WriteLine(Usage);
        return ExitCodes.Usage;
    }
}

/// <summary>A command's options (<c>--name value</c>) and the arguments left for configuration.</summary>
internal sealed class Options
{
    readonly Dictionary<string, string> _values;

    Options(Dictionary<string, string> values, string[] configurationArgs)
    {
        _values = values;
        ConfigurationArgs = configurationArgs;
    }

    /// <summary>Arguments that are not the command's options: passed to configuration (<c>--RabbitMq:Host=x</c>).</summary>
    public string[] ConfigurationArgs { get; }

    public static Options Parse(string[] args, IReadOnlySet<string> names)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : null;
            if (name is not null && names.Contains(name))
            {
                if (i + 1 >= args.Length)
                    throw new UsageException($"--{name} needs a value");
                values[name] = args[++i];
            }
            else if (name is not null && !name.Contains(':', StringComparison.Ordinal))
            {
                throw new UsageException($"unknown option '{args[i]}'");
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        return new Options(values, [.. rest]);
    }

    public int Int(string name, int fallback, int min, int max)
    {
        if (!_values.TryGetValue(name, out var text))
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new UsageException($"--{name} must be a whole number from {min} to {max}; it is '{text}'");
        return value;
    }

    public int? OptionalInt(string name, int min, int max) =>
        _values.ContainsKey(name) ? Int(name, 0, min, max) : null;

    public double Share(string name, double fallback)
    {
        if (!_values.TryGetValue(name, out var text))
            return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value is < 0 or > 1)
            throw new UsageException($"--{name} must be a number from 0 to 1; it is '{text}'");
        return value;
    }
}

/// <summary>The command line is wrong.</summary>
internal sealed class UsageException(string message) : Exception(message);
