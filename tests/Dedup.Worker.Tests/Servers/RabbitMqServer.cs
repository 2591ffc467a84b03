using System.Diagnostics;
using System.Globalization;

namespace Dedup.Worker.Tests.Servers;

/// <summary>
/// A throwaway local RabbitMQ node (<c>rabbitmq-server</c>) on free loopback ports, with its own data, logs, Erlang
/// cookie and epmd, so it never meets the machine's own broker (stand-in, see README.md).
/// </summary>
public sealed class RabbitMqServer : IAsyncDisposable
{
    readonly Process _process;
    readonly string _directory;
    readonly Dictionary<string, string?> _environment;
    readonly string _node;
    readonly int _epmdPort;

    RabbitMqServer(Process process, string directory, Dictionary<string, string?> environment, string node, int port, int epmdPort)
    {
        _process = process;
        _directory = directory;
        _environment = environment;
        _node = node;
        Port = port;
        _epmdPort = epmdPort;
    }

    public string Host { get; } = "127.0.0.1";

    public int Port { get; }

    public string Username { get; } = "guest";

    public string Password { get; } = "guest";

    public string VirtualHost { get; } = "/";

    public Uri AmqpUri => new($"amqp://{Username}:{Password}@{Host}:{Port}/");

    public static async Task<RabbitMqServer> StartAsync()
    {
        var server = Binaries.Find("rabbitmq-server", "rabbitmq-server", "/usr/lib/rabbitmq/bin");
        var ports = Binaries.FreePorts(3);
        var (port, distPort, epmdPort) = (ports[0], ports[1], ports[2]);
        var directory = Directory.CreateTempSubdirectory("dedup-worker-rabbitmq-").FullName;
        Directory.CreateDirectory(Path.Combine(directory, "home"));
        await File.WriteAllTextAsync(Path.Combine(directory, "rabbitmq.conf"), $"listeners.tcp.default = 127.0.0.1:{port}\n");
        await File.WriteAllTextAsync(Path.Combine(directory, "enabled_plugins"), "[].\n");
        var node = $"dedup-worker-{port}@localhost";
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = Path.Combine(directory, "home"),
            ["RABBITMQ_NODENAME"] = node,
            ["RABBITMQ_NODE_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distPort.ToString(CultureInfo.InvariantCulture),
            ["ERL_EPMD_PORT"] = epmdPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(directory, "log"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(directory, "rabbitmq.conf"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(directory, "enabled_plugins"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(directory, "rabbitmq.pid"),
        };
        var process = Binaries.StartServer(server, [], environment);
        var rabbit = new RabbitMqServer(process, directory, environment, node, port, epmdPort);

        // "rabbitmqctl wait" returns once the node has written its pid file and the rabbit application runs.
        var wait = await rabbit.CtlAsync("wait", environment["RABBITMQ_PID_FILE"]!, "--timeout", "90");
        if (wait.ExitCode != 0)
        {
            await rabbit.DisposeAsync();
            throw new InvalidOperationException($"rabbitmq-server did not start: {wait.Output}");
        }

        return rabbit;
    }

    /// <summary>Runs <c>rabbitmqctl</c> against this node.</summary>
    public async Task<(int ExitCode, string Output)> CtlAsync(params string[] args)
    {
        var ctl = Binaries.Find("rabbitmqctl", "rabbitmq-server", "/usr/lib/rabbitmq/bin");
        using var process = Binaries.Start(ctl, ["-n", _node, .. args], _environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    public async ValueTask DisposeAsync()
    {
        await CtlAsync("stop");
        await Binaries.KillAsync(_process);
        var epmd = Binaries.Find("epmd", "erlang-base", "/usr/lib/erlang/bin");
        using (var kill = Binaries.Start(epmd, ["-port", _epmdPort.ToString(CultureInfo.InvariantCulture), "-kill"], null))
            await kill.WaitForExitAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A log file still being closed: the temp folder is cleaned with the machine.
        }
    }
}
