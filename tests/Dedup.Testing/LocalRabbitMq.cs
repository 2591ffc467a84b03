using System.Collections;
using System.Globalization;
using System.Security.Cryptography;

namespace Dedup.Testing;

/// <summary>
/// A RabbitMQ node of its own, started from the local rabbitmq-server installation: a unique node name, free AMQP,
/// distribution and epmd ports on loopback, and every file (mnesia, logs, config, plugins, Erlang cookie) in a
/// temporary directory. It is independent of any system RabbitMQ service and of other test nodes.
/// </summary>
/// <remarks>
/// Debian's /usr/sbin/rabbitmq-server and rabbitmqctl are wrappers that switch to the rabbitmq user (su) when run as
/// root; this class runs the real scripts in /usr/lib/rabbitmq/bin as the current user instead, with HOME pointing
/// at the temporary directory so the node and the CLI share a private cookie. It starts its own epmd on a free port
/// (ERL_EPMD_PORT) so the node never meets, starts or depends on the system epmd on 4369.
/// </remarks>
internal sealed class LocalRabbitMq : IRabbitMqBackend
{
    private const string RabbitMqLibDirectory = "/usr/lib/rabbitmq/bin";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan CtlTimeout = TimeSpan.FromSeconds(60);

    private readonly string _ctlPath;
    private readonly DirectoryInfo _directory;
    private readonly string _nodeName;
    private readonly IReadOnlyDictionary<string, string?> _environment;
    private LocalProcess? _epmd;
    private LocalProcess? _server;

    private LocalRabbitMq(string ctlPath, DirectoryInfo directory, string nodeName, int port, IReadOnlyDictionary<string, string?> environment)
    {
        _ctlPath = ctlPath;
        _directory = directory;
        _nodeName = nodeName;
        Port = port;
        _environment = environment;
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public string Username => "guest";

    public string Password => "guest";

    /// <summary>Starts epmd and the node, and returns once <c>rabbitmqctl await_startup</c> succeeds.</summary>
    public static async Task<LocalRabbitMq> StartAsync(CancellationToken ct)
    {
        var serverPath = Executables.Find("rabbitmq-server", RabbitMqLibDirectory)
            ?? throw new InvalidOperationException(Executables.MissingMessage("rabbitmq-server", "rabbitmq-server"));
        var ctlPath = Executables.Find("rabbitmqctl", RabbitMqLibDirectory)
            ?? throw new InvalidOperationException(Executables.MissingMessage("rabbitmqctl", "rabbitmq-server"));
        var epmdPath = Executables.Find("epmd", "/usr/lib/erlang/bin")
            ?? throw new InvalidOperationException(Executables.MissingMessage("epmd", "rabbitmq-server"));

        var ports = FreePort.Next(3);
        var (amqpPort, distPort, epmdPort) = (ports[0], ports[1], ports[2]);
        var shortName = "dedup-test-" + RandomNumberGenerator.GetHexString(8, lowercase: true);
        var nodeName = shortName + "@localhost";
        var directory = Directory.CreateTempSubdirectory("dedup-rabbitmq-");
        var environment = PrepareDirectory(directory, nodeName, amqpPort, distPort, epmdPort);

        var rabbit = new LocalRabbitMq(ctlPath, directory, nodeName, amqpPort, environment);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(StartTimeout);
            try
            {
                await rabbit.StartProcessesAsync(serverPath, epmdPath, epmdPort, shortName, timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw rabbit.StartFailure($"did not finish starting within {StartTimeout.TotalSeconds} s");
            }

            return rabbit;
        }
        catch
        {
            await rabbit.DisposeAsync();
            throw;
        }
    }

    public Task<ProcessResult> CtlAsync(IReadOnlyList<string> args, CancellationToken ct) => CtlAsync(args, CtlTimeout, ct);

    private Task<ProcessResult> CtlAsync(IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct) =>
        ProcessRunner.RunAsync(_ctlPath, ["-n", _nodeName, .. args], _environment, timeout, ct);

    /// <summary>Kills the node (with its child processes) and its epmd, and deletes the temporary directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
            _server = null;
        }

        if (_epmd is not null)
        {
            await _epmd.DisposeAsync();
            _epmd = null;
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it lives under the temp directory.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    private static Dictionary<string, string?> PrepareDirectory(DirectoryInfo directory, string nodeName, int amqpPort, int distPort, int epmdPort)
    {
        string Sub(string name) => Path.Combine(directory.FullName, name);

        var home = Directory.CreateDirectory(Sub("home")).FullName;
        Directory.CreateDirectory(Sub("mnesia"));
        Directory.CreateDirectory(Sub("log"));

        // Erlang refuses a cookie file that others can read.
        var cookie = Path.Combine(home, ".erlang.cookie");
        File.WriteAllText(cookie, RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 32));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(cookie, UnixFileMode.UserRead);
        }

        File.WriteAllText(Sub("enabled_plugins"), "[].\n"); // no management or other plugins: faster start
        File.WriteAllText(Sub("rabbitmq-env.conf"), string.Empty); // ignore /etc/rabbitmq/rabbitmq-env.conf
        File.WriteAllLines(Sub("rabbitmq.conf"),
        [
            $"listeners.tcp.default = 127.0.0.1:{amqpPort.ToString(CultureInfo.InvariantCulture)}",
            "default_user = guest",
            "default_pass = guest",
            "default_vhost = /",
            "loopback_users.guest = true", // the default, stated: guest may connect from 127.0.0.1 only
            "disk_free_limit.absolute = 1MB", // do not block publishers on a nearly full test disk
            "log.console = false",
            "log.file.level = info",
        ]);

        // Drop inherited RabbitMQ/Erlang settings (RABBITMQ_USE_LONGNAME, ERL_FLAGS, ...) that would change the node.
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (name.StartsWith("RABBITMQ_", StringComparison.Ordinal) || name.StartsWith("ERL_", StringComparison.Ordinal))
            {
                environment[name] = null;
            }
        }

        environment["HOME"] = home;
        environment["LC_ALL"] = "C.UTF-8"; // the Elixir CLI warns on a non-UTF-8 locale
        environment["ERL_EPMD_PORT"] = epmdPort.ToString(CultureInfo.InvariantCulture);
        environment["ERL_EPMD_ADDRESS"] = "127.0.0.1";
        environment["RABBITMQ_NODENAME"] = nodeName;
        environment["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        environment["RABBITMQ_NODE_PORT"] = amqpPort.ToString(CultureInfo.InvariantCulture);
        environment["RABBITMQ_DIST_PORT"] = distPort.ToString(CultureInfo.InvariantCulture);
        environment["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}";
        environment["RABBITMQ_MNESIA_BASE"] = Sub("mnesia");
        environment["RABBITMQ_LOG_BASE"] = Sub("log");
        environment["RABBITMQ_CONFIG_FILE"] = Sub("rabbitmq.conf");
        environment["RABBITMQ_ADVANCED_CONFIG_FILE"] = Sub("advanced.config"); // absent on purpose
        environment["RABBITMQ_ENABLED_PLUGINS_FILE"] = Sub("enabled_plugins");
        environment["RABBITMQ_CONF_ENV_FILE"] = Sub("rabbitmq-env.conf");
        environment["RABBITMQ_PID_FILE"] = Sub("rabbitmq.pid");
        // CLI runs pick an ephemeral distribution port instead of the fixed 35672-35682 range, so many nodes
        // and parallel rabbitmqctl calls never compete for it.
        environment["RABBITMQ_CTL_DIST_PORT_MIN"] = "0";
        environment["RABBITMQ_CTL_DIST_PORT_MAX"] = "0";
        return environment;
    }

    private async Task StartProcessesAsync(string serverPath, string epmdPath, int epmdPort, string shortName, CancellationToken ct)
    {
        _epmd = LocalProcess.Start(
            epmdPath,
            ["-port", epmdPort.ToString(CultureInfo.InvariantCulture), "-address", "127.0.0.1"],
            _environment,
            _directory.FullName);
        while (await EpmdWire.NamesAsync(epmdPort, ct) is null)
        {
            if (_epmd.HasExited)
            {
                throw StartFailure($"its epmd on port {epmdPort} exited with code {_epmd.ExitCode}: {_epmd.Output.Text()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
        }

        _server = LocalProcess.Start(serverPath, [], _environment, _directory.FullName);

        // First the VM registers with epmd (cheap to poll), then await_startup waits for the boot to complete;
        // before registration await_startup fails at once with "node not running".
        while ((await EpmdWire.NamesAsync(epmdPort, ct))?.Contains(shortName) != true)
        {
            if (_server.HasExited)
            {
                throw StartFailure($"rabbitmq-server exited with code {_server.ExitCode}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
        }

        // The caller's token carries the overall 90 s limit; this run's own limit only backs it up.
        var awaited = await CtlAsync(
            ["await_startup", "--timeout", StartTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)],
            StartTimeout + TimeSpan.FromSeconds(10),
            ct);
        if (awaited.ExitCode != 0)
        {
            throw StartFailure($"rabbitmqctl await_startup exited with code {awaited.ExitCode}: {awaited.Stderr.Trim()} {awaited.Stdout.Trim()}");
        }
    }

    private InvalidOperationException StartFailure(string what)
    {
        var nl = Environment.NewLine;
        return new InvalidOperationException(
            $"The local RabbitMQ node {_nodeName} (AMQP port {Port}, directory {_directory.FullName}) {what}.{nl}" +
            $"rabbitmq-server output:{nl}{_server?.Output.Text(20)}{nl}" +
            $"Tail of the node's log ({LogPath}; the directory is deleted on dispose):{nl}{LogTail(40)}{nl}" +
            "The tests start this node themselves from Debian's rabbitmq-server (./test.sh installs it); " +
            $"with a Docker engine, {DockerEngine.OverrideVariable}=1 runs RabbitMQ in a container instead.");
    }

    private string LogPath => Path.Combine(_directory.FullName, "log", _nodeName + ".log");

    private string LogTail(int lines)
    {
        try
        {
            return File.Exists(LogPath)
                ? string.Join(Environment.NewLine, File.ReadLines(LogPath).TakeLast(lines))
                : "(no log file yet)";
        }
        catch (IOException e)
        {
            return $"(cannot read the log: {e.Message})";
        }
    }
}
