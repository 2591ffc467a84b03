using System.Net;
using System.Net.Sockets;

namespace Dedup.Testing;

/// <summary>
/// Finds TCP ports on the loopback interface that nothing listens on right now, for servers the tests start.
/// </summary>
/// <remarks>
/// The operating system picks the port (bind to port 0), so it comes from the ephemeral range. A port is only free
/// at the moment it is returned: start the server on it promptly.
/// </remarks>
public static class FreePort
{
    /// <summary>Returns one free loopback TCP port.</summary>
    public static int Next() => Next(1)[0];

    /// <summary>Returns <paramref name="count"/> distinct free loopback TCP ports.</summary>
    /// <param name="count">How many ports; at least 1.</param>
    public static IReadOnlyList<int> Next(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);

        // Hold every listener until all ports are chosen, so the same port is never returned twice.
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }
}
