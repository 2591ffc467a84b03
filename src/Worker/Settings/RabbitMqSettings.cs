namespace Dedup.Worker.Settings;

/// <summary>Where the worker's RabbitMQ is: section <c>RabbitMq</c> (environment: <c>RabbitMq__Host</c>, ...).</summary>
public sealed class RabbitMqSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "RabbitMq";

    /// <summary>Host name or address. Default <c>localhost</c>.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>AMQP port. Default 5672, or 5671 when <see cref="UseTls"/>.</summary>
    public int? Port { get; set; }

    /// <summary>Virtual host. Default <c>/</c>.</summary>
    public string VirtualHost { get; set; } = "/";

    /// <summary>User name. Default <c>guest</c> (which RabbitMQ only accepts from localhost).</summary>
    public string Username { get; set; } = "guest";

    /// <summary>Password. Default <c>guest</c>.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>Connect with TLS (AMQPS). Default false.</summary>
    public bool UseTls { get; set; }

    /// <summary>The server name the TLS certificate must carry. Default: <see cref="Host"/>.</summary>
    public string? TlsServerName { get; set; }

    /// <summary>How long the start-up check waits for RabbitMQ before the worker gives up. Default 10 s; 1 s to 5 min.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The port in use: <see cref="Port"/> or the AMQP default for the TLS setting.</summary>
    public int EffectivePort => Port ?? (UseTls ? 5671 : 5672);

    /// <summary>The broker address for messages, without credentials.</summary>
    public string Describe() =>
        $"{(UseTls ? "amqps" : "amqp")}://{Host}:{EffectivePort}/{Uri.EscapeDataString(VirtualHost)}";

    internal IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Host) || Host.Contains("://", StringComparison.Ordinal) || Host.Any(char.IsWhiteSpace))
            yield return $"RabbitMq:Host must be a host name or address (no scheme, no spaces); it is '{Host}'.";
        if (Port is < 1 or > 65535)
            yield return $"RabbitMq:Port must be 1 to 65535; it is {Port}.";
        if (string.IsNullOrEmpty(VirtualHost))
            yield return "RabbitMq:VirtualHost must not be empty; use '/' for the default virtual host.";
        if (string.IsNullOrEmpty(Username))
            yield return "RabbitMq:Username must not be empty.";
        if (string.IsNullOrEmpty(Password))
            yield return "RabbitMq:Password must not be empty.";
        if (ConnectTimeout < TimeSpan.FromSeconds(1) || ConnectTimeout > TimeSpan.FromMinutes(5))
            yield return $"RabbitMq:ConnectTimeout must be between 00:00:01 and 00:05:00; it is {ConnectTimeout}.";
    }
}
