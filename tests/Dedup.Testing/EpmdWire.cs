using System.Net.Sockets;
using System.Text;

namespace Dedup.Testing;

/// <summary>
/// Asks an Erlang port mapper (epmd) which nodes are registered (NAMES_REQ), a cheap probe for "the node's VM is up"
/// that needs no Erlang CLI start.
/// </summary>
internal static class EpmdWire
{
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The short node names registered with the epmd on 127.0.0.1:<paramref name="port"/>, or null when it does
    /// not answer.
    /// </summary>
    public static async Task<IReadOnlyList<string>?> NamesAsync(int port, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ExchangeTimeout);
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(new byte[] { 0, 1, (byte)'n' }, timeout.Token); // length 1, NAMES_REQ

            // Reply: 4 bytes (epmd's own port), then lines "name NODE at port N\n" until epmd closes.
            using var reply = new MemoryStream();
            await stream.CopyToAsync(reply, timeout.Token);
            if (reply.Length < 4)
            {
                return null;
            }

            var text = Encoding.ASCII.GetString(reply.GetBuffer(), 4, (int)reply.Length - 4);
            return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .Where(words => words.Length >= 2 && words[0] == "name")
                .Select(words => words[1])
                .ToArray();
        }
        catch (Exception e) when (e is SocketException or IOException
            || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return null;
        }
    }
}
