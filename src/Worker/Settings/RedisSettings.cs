using StackExchange.Redis;

namespace Dedup.Worker.Settings;

/// <summary>The Redis that holds the dedup records: section <c>Redis</c> (environment: <c>Redis__Configuration</c>).</summary>
public sealed class RedisSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Redis";

    /// <summary>
    /// A StackExchange.Redis configuration string: <c>host:port[,password=...][,ssl=true][,user=...]</c>. Default
    /// <c>localhost:6379</c>. Use a dedicated instance with <c>maxmemory-policy noeviction</c> and persistence.
    /// </summary>
    public string Configuration { get; set; } = "localhost:6379";

    /// <summary>How long the start-up check waits for Redis before the worker gives up. Default 5 s; 1 s to 5 min.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal IEnumerable<string> Validate() => ValidateConfiguration("Redis:Configuration", Configuration)
        .Concat(ConnectTimeout < TimeSpan.FromSeconds(1) || ConnectTimeout > TimeSpan.FromMinutes(5)
            ? [$"Redis:ConnectTimeout must be between 00:00:01 and 00:05:00; it is {ConnectTimeout}."]
            : []);

    internal static IEnumerable<string> ValidateConfiguration(string setting, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            yield return $"{setting} must be a Redis configuration string such as 'localhost:6379'; it is empty.";
            yield break;
        }

        string? error = null;
        try
        {
            if (ConfigurationOptions.Parse(value).EndPoints.Count == 0)
                error = "it names no endpoint";
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException)
        {
            error = exception.Message;
        }

        if (error is not null)
            yield return $"{setting} does not parse ({error}); use 'host:port[,password=...][,ssl=true]'. It is '{Redact(value)}'.";
    }

    /// <summary>The configuration string with any password replaced, for messages and logs.</summary>
    internal static string Redact(string value) =>
        string.Join(',', value.Split(',').Select(part =>
            part.TrimStart().StartsWith("password=", StringComparison.OrdinalIgnoreCase) ? "password=***" : part));
}
