using System.Net.Security;
using System.Security.Authentication;
using Dedup.Worker.Settings;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Dedup.Worker.Hosting;

/// <summary>Plain AMQP connections (RabbitMQ.Client) from the worker's settings: the start-up check, the health check, raw publishing.</summary>
internal static class RabbitMqClient
{
    static ConnectionFactory Factory(RabbitMqSettings settings, string clientName) => new()
    {
        VirtualHost = settings.VirtualHost,
        UserName = settings.Username,
        Password = settings.Password,
        RequestedConnectionTimeout = settings.ConnectTimeout,
        ClientProvidedName = clientName,
    };

    /// <summary>Every node of <see cref="RabbitMqSettings.Host"/>; the client tries them in random order until one accepts.</summary>
    public static IReadOnlyList<AmqpTcpEndpoint> Endpoints(RabbitMqSettings settings) =>
        [.. settings.Nodes.Select(node => new AmqpTcpEndpoint(node.Host, node.Port, new SslOption
        {
            Enabled = settings.UseTls,
            ServerName = string.IsNullOrWhiteSpace(settings.TlsServerName) ? node.Host : settings.TlsServerName,
            Version = SslProtocols.Tls12 | SslProtocols.Tls13,
            AcceptablePolicyErrors = SslPolicyErrors.None,
        }))];

    /// <summary>Opens a connection; a failure becomes a <see cref="StartupCheckException"/> that names the settings to check.</summary>
    public static async Task<IConnection> ConnectAsync(RabbitMqSettings settings, string clientName, CancellationToken cancellationToken)
    {
        try
        {
            return await Factory(settings, clientName).CreateConnectionAsync(Endpoints(settings), cancellationToken);
        }
        catch (Exception exception) when (exception is BrokerUnreachableException or OperationInterruptedException or IOException
                                              or System.Net.Sockets.SocketException or AuthenticationException or TimeoutException)
        {
            throw new StartupCheckException(Explain(exception, settings), exception);
        }
    }

    static string Explain(Exception exception, RabbitMqSettings settings)
    {
        var broker = settings.Describe();
        var messages = string.Join(" <- ", Chain(exception).Select(e => e.Message).Distinct());
        if (Chain(exception).Any(e => e is AuthenticationFailureException))
            return $"RabbitMQ at {broker} refused user '{settings.Username}' (ACCESS_REFUSED). Check RabbitMq:Username and RabbitMq:Password; the 'guest' user only logs in from localhost. ({messages})";
        if (messages.Contains("vhost", StringComparison.OrdinalIgnoreCase) || messages.Contains("NOT_ALLOWED", StringComparison.Ordinal))
            return $"RabbitMQ at {broker} refused virtual host '{settings.VirtualHost}' (it does not exist, or user '{settings.Username}' has no permissions on it). Check RabbitMq:VirtualHost. ({messages})";
        if (Chain(exception).Any(e => e is AuthenticationException))
            return $"RabbitMQ at {broker}: the TLS handshake failed. Check RabbitMq:UseTls, RabbitMq:Port and RabbitMq:TlsServerName. ({messages})";
        return $"RabbitMQ at {broker} is unreachable within {settings.ConnectTimeout.TotalSeconds:0.#} s{(settings.Nodes.Count > 1 ? " (no node accepted)" : "")}. Check RabbitMq:Host, RabbitMq:Port and RabbitMq:UseTls, and that the broker runs. ({messages})";
    }

    static IEnumerable<Exception> Chain(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            yield return current;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Chain))
                    yield return inner;
            }
        }
    }
}
