using System.Globalization;

namespace Dedup.Testing;

/// <summary>A <c>redis-server</c> process on a free loopback port with its own temporary data directory.</summary>
internal sealed class LocalRedis : IRedisBackend
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private readonly string _serverPath;
    private readonly string _cliPath;
    private readonly DirectoryInfo _directory;
    private readonly RedisServerOptions _options;
    private LocalProcess? _process;
    private bool _paused;

    private LocalRedis(string serverPath, string cliPath, DirectoryInfo directory, int port, RedisServerOptions options)
    {
        _serverPath = serverPath;
        _cliPath = cliPath;
        _directory = directory;
        Port = port;
        _options = options;
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts redis-server and returns once it answers PING.</summary>
    public static async Task<LocalRedis> StartAsync(RedisServerOptions options, CancellationToken ct)
    {
        var serverPath = Executables.Find("redis-server")
            ?? throw new InvalidOperationException(Executables.MissingMessage("redis-server", "redis-server"));
        var cliPath = Executables.Find("redis-cli")
            ?? throw new InvalidOperationException(Executables.MissingMessage("redis-cli", "redis-server"));

        var redis = new LocalRedis(serverPath, cliPath, Directory.CreateTempSubdirectory("dedup-redis-"), FreePort.Next(), options);
        try
        {
            await redis.StartAgainAsync(ct);
            return redis;
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    public Task StartAgainAsync(CancellationToken ct) => StartAgainAsync([], ct);

    /// <summary>Starts the server again with <paramref name="extraArguments"/> after the options' own (e.g. <c>--replicaof</c>).</summary>
    public async Task StartAgainAsync(IReadOnlyList<string> extraArguments, CancellationToken ct)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"redis-server on port {Port} is still running; stop it first.");
        }

        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        string[] arguments =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--dir", _directory.FullName,
            "--daemonize", "no",
            "--logfile", string.Empty,
            .. _options.ServerArguments(),
            .. extraArguments,
        ];
        _process = LocalProcess.Start(_serverPath, arguments, workingDirectory: _directory.FullName);
        _paused = false;
        await WaitUntilReadyAsync(_process, ct);
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        Resume(); // A frozen server would never act on SHUTDOWN.
        await RedisWire.ShutdownNoSaveAsync(Port, ct);
        if (!await _process.WaitForExitAsync(ShutdownTimeout, ct))
        {
            await _process.KillAsync();
        }
    }

    public async Task<ProcessResult> CliAsync(IReadOnlyList<string> args, CancellationToken ct) =>
        await ProcessRunner.RunAsync(
            _cliPath,
            ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), .. args],
            environment: null,
            CliTimeout,
            ct);

    public void Pause()
    {
        var process = RunningProcess();
        process.Signal(UnixSignals.Stop);
        _paused = true;
    }

    public void Resume()
    {
        if (_process is { HasExited: false } process && _paused)
        {
            process.Signal(UnixSignals.Continue);
        }

        _paused = false;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
            _process = null;
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it lives under the temp directory.
        }
    }

    private LocalProcess RunningProcess() =>
        _process is { HasExited: false } process
            ? process
            : throw new InvalidOperationException($"redis-server on port {Port} is not running; call RestartAsync first.");

    private async Task WaitUntilReadyAsync(LocalProcess process, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (!await RedisWire.PingAsync(Port, ct))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"redis-server exited with code {process.ExitCode} before answering PING on port {Port} " +
                    $"(data directory {_directory.FullName}). Its output:{Environment.NewLine}{process.Output.Text()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"redis-server on port {Port} did not answer PING within {ReadyTimeout.TotalSeconds} s. " +
                    $"Its output:{Environment.NewLine}{process.Output.Text()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(25), ct);
        }
    }
}
