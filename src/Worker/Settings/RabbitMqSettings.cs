namespace Dedup.Worker.Settings;

/// <summary>Where the worker's RabbitMQ is: section <c>RabbitMq</c> (environment: <c>RabbitMq__Host</c>, ...).</summary>
public sealed class RabbitMqSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "RabbitMq";

    /// <summary>
    /// Host name or address; or the nodes of a RabbitMQ cluster, separated by commas, each with an optional port:
    /// <c>rabbit-a,rabbit-b:5673,rabbit-c</c>. Default <c>localhost</c>. With several nodes each process starts at a
    /// random one and moves on to the next when its connection is lost or refused (MassTransit's <c>UseCluster</c>).
    /// </summary>
    public string Host { get; set; } = "localhost";

    /// <summary>AMQP port of every node in <see cref="Host"/> that names none. Default 5672, or 5671 when <see cref="UseTls"/>.</summary>
    public int? Port { get; set; }

    /// <summary>Virtual host. Default <c>/</c>.</summary>
    public string VirtualHost { get; set; } = "/";

    /// <summary>User name. Default <c>guest</c> (which RabbitMQ only accepts from localhost).</summary>
    public string Username { get; set; } = "guest";

    /// <summary>Password. Default <c>guest</c>.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>Connect with TLS (AMQPS). Default false.</summary>
    public bool UseTls { get; set; }

    /// <summary>
    /// The server name the TLS certificate must carry. Default: <see cref="Host"/>; required when <see cref="Host"/> names
    /// several nodes (every node's certificate must carry this one name).
    /// </summary>
    public string? TlsServerName { get; set; }

    /// <summary>How long the start-up check waits for RabbitMQ before the worker gives up. Default 10 s; 1 s to 5 min.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The port in use: <see cref="Port"/> or the AMQP default for the TLS setting.</summary>
    public int EffectivePort => Port ?? (UseTls ? 5671 : 5672);

    /// <summary>The nodes named by <see cref="Host"/>, each with its port (valid settings only).</summary>
    internal IReadOnlyList<RabbitMqNode> Nodes => RabbitMqNode.ParseList(Host, EffectivePort, out _) ?? [];

    /// <summary>The broker address for messages, without credentials.</summary>
    public string Describe() =>
        $"{(UseTls ? "amqps" : "amqp")}://{string.Join(',', Nodes)}/{Uri.EscapeDataString(VirtualHost)}";

    internal IEnumerable<string> Validate()
    {
        var nodes = RabbitMqNode.ParseList(Host, EffectivePort, out var nodeError);
        if (string.IsNullOrWhiteSpace(Host) || Host.Contains("://", StringComparison.Ordinal) || nodes is null
            || nodes.Any(n => n.Host.Any(char.IsWhiteSpace)))
        {
            yield return $"RabbitMq:Host must be a host name or address, or several 'host[:port]' separated by commas (no scheme, no spaces){(nodeError is null ? "" : $": {nodeError}")}; it is '{Host}'.";
        }
        else if (nodes.Count > 1 && nodes.Any(n => n.Host.Contains(':', StringComparison.Ordinal)))
        {
            yield return $"RabbitMq:Host names several nodes, and an IPv6 address cannot be one of them (a cluster node is 'host[:port]'): use host names; it is '{Host}'.";
        }
        else if (nodes.Count > 1 && UseTls && string.IsNullOrWhiteSpace(TlsServerName))
        {
            yield return $"RabbitMq:TlsServerName must be set when RabbitMq:Host names several nodes and RabbitMq:UseTls is true: each node's certificate is checked against this one name, so give every node a certificate that carries it; RabbitMq:Host is '{Host}'.";
        }

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
