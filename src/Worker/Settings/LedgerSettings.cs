namespace Dedup.Worker.Settings;

/// <summary>Where the sample consumers record their side effects: section <c>Ledger</c>.</summary>
public sealed class LedgerSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Ledger";

    /// <summary>The ledger's Redis configuration string. Default: empty, meaning the dedup Redis (<c>Redis:Configuration</c>).</summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of the ledger's keys (without braces: the ledger adds a hash tag per id). Default <c>ledger:</c>.</summary>
    public string KeyPrefix { get; set; } = "ledger:";

    /// <summary>How many entries each payment keeps (the newest) in <c>&lt;prefix&gt;{&lt;id&gt;}:entries</c>. Default 10; 1 to 1000.</summary>
    public int MaxEntries { get; set; } = 10;

    /// <summary>
    /// How long a payment's or quote's records (executions, entries) live after its last write. Default 7 days; 1 minute
    /// to 365 days. Fences live as long as the dedup records they guard, whatever this is.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    internal IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Redis))
        {
            foreach (var failure in RedisSettings.ValidateConfiguration("Ledger:Redis", Redis))
                yield return failure;
        }

        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || KeyPrefix.Any(c => char.IsWhiteSpace(c) || c is '{' or '}'))
            yield return $"Ledger:KeyPrefix must be 1 to 64 characters without whitespace or braces (the ledger adds a hash tag per id); it is '{KeyPrefix}'.";
        if (MaxEntries is < 1 or > 1000)
            yield return $"Ledger:MaxEntries (entries kept per payment) must be 1 to 1000; it is {MaxEntries}.";
        if (Retention < TimeSpan.FromMinutes(1) || Retention > TimeSpan.FromDays(365))
            yield return $"Ledger:Retention must be between 00:01:00 and 365.00:00:00; it is {Retention}.";
    }
}
