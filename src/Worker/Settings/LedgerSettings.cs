namespace Dedup.Worker.Settings;

/// <summary>Where the sample consumers record their side effects: section <c>Ledger</c>.</summary>
public sealed class LedgerSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Ledger";

    /// <summary>The ledger's Redis configuration string. Default: empty, meaning the dedup Redis (<c>Redis:Configuration</c>).</summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of the ledger's keys. Default <c>ledger:</c>.</summary>
    public string KeyPrefix { get; set; } = "ledger:";

    /// <summary>How many entries <c>&lt;prefix&gt;entries</c> keeps (the newest). Default 100000; 1 to 10000000.</summary>
    public int MaxEntries { get; set; } = 100_000;

    internal IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Redis))
        {
            foreach (var failure in RedisSettings.ValidateConfiguration("Ledger:Redis", Redis))
                yield return failure;
        }

        if (string.IsNullOrEmpty(KeyPrefix) || KeyPrefix.Length > 64 || KeyPrefix.Any(char.IsWhiteSpace))
            yield return $"Ledger:KeyPrefix must be 1 to 64 characters without whitespace; it is '{KeyPrefix}'.";
        if (MaxEntries is < 1 or > 10_000_000)
            yield return $"Ledger:MaxEntries must be 1 to 10000000; it is {MaxEntries}.";
    }
}
