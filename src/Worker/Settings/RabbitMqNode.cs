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
            if (entry.StartsWith('['))
            {
                // A bracketed IPv6 address, with or without a port: [::1] or [::1]:5673.
                var close = entry.IndexOf(']', StringComparison.Ordinal);
                var rest = close < 0 ? null : entry[(close + 1)..];
                if (rest is null || (rest.Length > 0 && !rest.StartsWith(':')))
                {
                    error = $"'{entry}' is not [address] or [address]:port";
                    return null;
                }

                var address = entry[1..close];
                if (rest.Length == 0)
                {
                    nodes.Add(new RabbitMqNode(address, defaultPort));
                    continue;
                }

                if (!TryPort(rest[1..], out var bracketedPort))
                {
                    error = $"the port of '{entry}' is not a number from 1 to 65535";
                    return null;
                }

                nodes.Add(new RabbitMqNode(address, bracketedPort));
                continue;
            }

            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || colon != entry.LastIndexOf(':'))
            {
                nodes.Add(new RabbitMqNode(entry, defaultPort));
                continue;
            }

            var host = entry[..colon];
            if (!TryPort(entry[(colon + 1)..], out var port))
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

    static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;
}
