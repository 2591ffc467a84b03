using System.Globalization;

namespace Dedup.Worker.Settings;

/// <summary>One RabbitMQ node the worker may connect to: an entry of <see cref="RabbitMqSettings.Host"/>.</summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">AMQP port: the entry's own, or <see cref="RabbitMqSettings.EffectivePort"/>.</param>
internal readonly record struct RabbitMqNode(string Host, int Port)
{
    /// <summary><c>host:port</c>, the form MassTransit's cluster configuration takes.</summary>
    public override string ToString() => $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Splits <c>host[:port][,host[:port]...]</c>. An entry with more than one colon is an IPv6 address without a port.
    /// Returns null and a reason when an entry is empty or its port is not a number from 1 to 65535.
    /// </summary>
    public static IReadOnlyList<RabbitMqNode>? ParseList(string? value, int defaultPort, out string? error)
    {
        error = null;
        var nodes = new List<RabbitMqNode>();
        foreach (var raw in (value ?? string.Empty).Split(','))
        {
            var entry = raw.Trim();
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || colon != entry.LastIndexOf(':'))
            {
                nodes.Add(new RabbitMqNode(entry, defaultPort));
                continue;
            }

            var host = entry[..colon];
            if (!int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                error = $"the port of '{entry}' is not a number from 1 to 65535";
                return null;
            }

            nodes.Add(new RabbitMqNode(host, port));
        }

        if (nodes.Any(n => n.Host.Length == 0))
        {
            error = "an entry names no host";
            return null;
        }

        return nodes;
    }
}
