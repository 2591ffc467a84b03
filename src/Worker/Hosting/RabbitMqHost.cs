using System.Net.Security;
using System.Security.Authentication;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Hosting;

/// <summary>MassTransit's RabbitMQ host from the worker's settings, for the worker's bus and the traffic command's.</summary>
internal static class RabbitMqHost
{
    /// <summary>
    /// One node: <c>cfg.Host(host, port, ...)</c>. Several (a cluster): <c>UseCluster</c> with every node, starting at a
    /// random one so that a fleet of workers spreads its connections over the nodes; MassTransit connects to one node at
    /// a time and moves on to the next in the list when the connection is lost or refused.
    /// </summary>
    public static void ConfigureHost(this IRabbitMqBusFactoryConfigurator cfg, RabbitMqSettings settings, string connectionName)
    {
        var nodes = settings.Nodes;
        var start = nodes.Count > 1 ? Random.Shared.Next(nodes.Count) : 0;
        var first = nodes[start];
        cfg.Host(first.Host, (ushort)first.Port, settings.VirtualHost, connectionName, h =>
        {
            h.Username(settings.Username);
            h.Password(settings.Password);
            if (nodes.Count > 1)
            {
                h.UseCluster(cluster =>
                {
                    for (var i = 0; i < nodes.Count; i++)
                        cluster.Node(nodes[(start + i) % nodes.Count].ToString());
                });
            }

            if (settings.UseTls)
            {
                h.UseSsl(s =>
                {
                    s.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
                    s.ServerName = string.IsNullOrWhiteSpace(settings.TlsServerName) ? first.Host : settings.TlsServerName;

                    // MassTransit accepts an untrusted certificate chain unless told otherwise.
                    s.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch
                                          | SslPolicyErrors.RemoteCertificateNotAvailable);
                });
            }
        });
    }
}
