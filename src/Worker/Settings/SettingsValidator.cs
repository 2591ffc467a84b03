using Microsoft.Extensions.Options;

namespace Dedup.Worker.Settings;

/// <summary>
/// Runs a settings section's rules when the host starts (<c>ValidateOnStart</c>). The rules stay beside the settings
/// they check (each section's <c>Validate()</c>, next to the documented range); each failure names the setting, the
/// rule and the value.
/// </summary>
internal sealed class SettingsValidator<T>(Func<T, IEnumerable<string>> rules) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var failures = rules(options).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
