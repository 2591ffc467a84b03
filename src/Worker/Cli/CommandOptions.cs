using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Dedup.Worker.Cli;

/// <summary>The numeric options of <c>demo</c> and <c>traffic</c>: parsed invariantly, with the range in the error.</summary>
internal static class CommandOptions
{
    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, <paramref name="fallback"/> when not given.</summary>
    public static Option<int> WholeNumber(string name, string description, int fallback, int min, int max, string helpName = "N") => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => fallback,
        CustomParser = result => ParseWholeNumber(result, name, min, max) ?? fallback,
    };

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, or null when not given (the description says what then).</summary>
    public static Option<int?> OptionalWholeNumber(string name, string description, int min, int max, string helpName = "N") => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result => ParseWholeNumber(result, name, min, max),
    };

    /// <summary>A share from 0 to 1, <paramref name="fallback"/> when not given.</summary>
    public static Option<double> Share(string name, string description, double fallback) => new(name)
    {
        Description = description,
        HelpName = "X",
        DefaultValueFactory = _ => fallback,
        CustomParser = result =>
        {
            var text = result.Tokens[0].Value;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 1)
                return value;
            result.AddError($"{name} must be a number from 0 to 1; it is '{text}'.");
            return fallback;
        },
    };

    static int? ParseWholeNumber(ArgumentResult result, string name, int min, int max)
    {
        var text = result.Tokens[0].Value;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            return value;
        result.AddError($"{name} must be a whole number from {min} to {max}; it is '{text}'.");
        return null;
    }
}
