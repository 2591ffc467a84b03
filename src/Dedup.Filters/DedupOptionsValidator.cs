using Microsoft.Extensions.Options;

namespace Dedup;

/// <summary>Validates <see cref="DedupOptions"/> at start; each failure names the option, the rule and the value.</summary>
internal sealed class DedupOptionsValidator : IValidateOptions<DedupOptions>
{
    static readonly System.Buffers.SearchValues<char> ForbiddenInPrefix = System.Buffers.SearchValues.Create("{} \t\r\n");

    public ValidateOptionsResult Validate(string? name, DedupOptions options)
    {
        var failures = new List<string>();

        if (string.IsNullOrEmpty(options.KeyPrefix) || options.KeyPrefix.Length > 64
            || options.KeyPrefix.AsSpan().IndexOfAny(ForbiddenInPrefix) >= 0)
            failures.Add($"Dedup:KeyPrefix must be 1 to 64 characters without braces or whitespace; it is '{options.KeyPrefix}'.");
        Range(failures, nameof(DedupOptions.Lease), options.Lease, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        Range(failures, nameof(DedupOptions.InFlightWait), options.InFlightWait, TimeSpan.Zero, TimeSpan.FromHours(1));
        Range(failures, nameof(DedupOptions.RedeliveryDelay), options.RedeliveryDelay, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        if (options.Retention <= options.Lease || options.Retention > TimeSpan.FromDays(365))
            failures.Add($"Dedup:Retention must be longer than Dedup:Lease ({options.Lease}) and at most 365 days; it is {options.Retention}.");
        if (options.StoreRetries is < 0 or > 10)
            failures.Add($"Dedup:StoreRetries must be 0 to 10; it is {options.StoreRetries}.");
        if (options.RedisBatchSize is < 1 or > 256)
            failures.Add($"Dedup:RedisBatchSize must be 1 (every call alone) to 256; it is {options.RedisBatchSize}.");
        if (options.MaxReplyBytes is < 0 or > 16 * 1024 * 1024)
            failures.Add($"Dedup:MaxReplyBytes must be 0 to 16777216 (16 MiB); it is {options.MaxReplyBytes}.");
        if (!Enum.IsDefined(options.OnConflict))
            failures.Add($"Dedup:OnConflict must be Fault, ProcessAsNew or Skip; it is {options.OnConflict}.");
        if (!Enum.IsDefined(options.InFlight))
            failures.Add($"Dedup:InFlight must be Wait or Redeliver; it is {options.InFlight}.");
        if (!Enum.IsDefined(options.StoreFailure))
            failures.Add($"Dedup:StoreFailure must be FailClosed or FailOpen; it is {options.StoreFailure}.");
        if (!Enum.IsDefined(options.MissingMessageId))
            failures.Add($"Dedup:MissingMessageId must be Reject or Process; it is {options.MissingMessageId}.");
        if (options.MaxRunTime < options.Lease || options.MaxRunTime > TimeSpan.FromHours(24))
            failures.Add($"Dedup:MaxRunTime must be at least Dedup:Lease ({options.Lease}) and at most 1.00:00:00 (24 h); it is {options.MaxRunTime}.");
        if (options.MaxRedeliveryDelay < options.RedeliveryDelay || options.MaxRedeliveryDelay > TimeSpan.FromMinutes(10))
            failures.Add($"Dedup:MaxRedeliveryDelay must be at least Dedup:RedeliveryDelay ({options.RedeliveryDelay}) and at most 00:10:00; it is {options.MaxRedeliveryDelay}.");

        ValidateDurability(failures, options);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    static void ValidateDurability(List<string> failures, DedupOptions options)
    {
        var durability = options.Durability;
        if (durability.Replicas is < 0 or > 10)
            failures.Add($"Dedup:Durability:Replicas must be 0 (off) to 10; it is {durability.Replicas}.");
        if (!Enum.IsDefined(durability.OnTimeout))
            failures.Add($"Dedup:Durability:OnTimeout must be Fail or Accept; it is {durability.OnTimeout}.");
        if (durability.Connections is < 1 or > 64)
            failures.Add($"Dedup:Durability:Connections must be 1 to 64; it is {durability.Connections}.");
        if (durability.Replicas <= 0)
            return;

        // WAIT 0 would block for ever; a longer wait holds every message that long while a replica is down.
        Range(failures, "Durability:Timeout", durability.Timeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        if (durability.AfterClaim && durability.Timeout >= options.Lease / 3)
            failures.Add($"Dedup:Durability:Timeout must be under a third of Dedup:Lease ({options.Lease}) when Dedup:Durability:AfterClaim is on, so a claim whose wait runs out still holds its lease; it is {durability.Timeout}.");
    }

    static void Range(List<string> failures, string option, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
            failures.Add($"Dedup:{option} must be between {min} and {max}; it is {value}.");
    }
}
