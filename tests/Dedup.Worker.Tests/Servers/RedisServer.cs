using System.Diagnostics;
using System.Net.Sockets;

namespace Dedup.Worker.Tests.Servers;

/// <summary>A throwaway local <c>redis-server</c> on a free loopback port, without persistence (stand-in, see README.md).</summary>
public sealed class RedisServer : IAsyncDisposable
{
    readonly Process _process;
    readonly string _directory;

    RedisServer(Process process, int port, string directory)
    {
        _process = process;
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var binary = Binaries.Find("redis-server", "redis-server");
        var port = Binaries.FreePort();
        var directory = Directory.CreateTempSubdirectory("dedup-worker-redis-").FullName;
        var process = Binaries.StartServer(binary, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory], null);
        var server = new RedisServer(process, port, directory);

        // Ready when it accepts a connection (redis-server listens only once it has loaded).
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(20) && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Binaries.KillAsync(_process);
        Directory.Delete(_directory, recursive: true);
    }
}
