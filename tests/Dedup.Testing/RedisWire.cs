using System.Net.Sockets;
using System.Text;

namespace Dedup.Testing;

/// <summary>
/// The few raw RESP exchanges the local server needs (readiness PING, SHUTDOWN), so this library does not depend
/// on a Redis client.
/// </summary>
internal static class RedisWire
{
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>True when the server at 127.0.0.1:<paramref name="port"/> answers PING with +PONG.</summary>
    /// <remarks>While loading its AOF the server answers -LOADING, which is "not ready".</remarks>
    public static async Task<bool> PingAsync(int port, CancellationToken ct)
    {
        try
        {
            var reply = await ExchangeAsync(port, "PING", ct);
            return reply.StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Sends SHUTDOWN NOSAVE; the server closes the connection instead of replying on success.</summary>
    public static async Task ShutdownNoSaveAsync(int port, CancellationToken ct)
    {
        try
        {
            await ExchangeAsync(port, "SHUTDOWN NOSAVE", ct);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            // Closed connection or server already gone: the caller waits for the process to exit either way.
        }
    }

    private static async Task<string> ExchangeAsync(int port, string inlineCommand, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ExchangeTimeout);
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(inlineCommand + "\r\n"), timeout.Token);

            var buffer = new byte[256];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"Redis on 127.0.0.1:{port} did not answer '{inlineCommand}' within {ExchangeTimeout.TotalSeconds} s.");
        }
    }
}
