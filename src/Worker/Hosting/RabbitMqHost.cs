using System.Net.Security;
using System.Security.Authentication;
using Dedup.Worker.Settings;
using MassTransit;

namespace Dedup.Worker.Hosting;

/// <summary>MassTransit's RabbitMQ host from the worker's settings, for the worker's bus and the traffic command's.</summary>
internal static class RabbitMqHost
{
    /// <summary><c>cfg.Host(host, port, ...)</c> with the credentials, and TLS when it is on.</summary>
    public static void ConfigureHost(this IRabbitMqBusFactoryConfigurator cfg, RabbitMqSettings settings, string connectionName) =>
        cfg.Host(settings.Host, (ushort)settings.EffectivePort, settings.VirtualHost, connectionName, h =>
        {
            h.Username(settings.Username);
            h.Password(settings.Password);
            if (settings.UseTls)
            {
                h.UseSsl(s =>
                {
                    s.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
                    s.ServerName = settings.TlsServerName ?? settings.Host;

                    // MassTransit accepts an untrusted certificate chain unless told otherwise.
                    s.EnforcePolicyErrors(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch
                                          | SslPolicyErrors.RemoteCertificateNotAvailable);
                });
            }
        });
}
