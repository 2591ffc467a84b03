namespace Dedup.Testing;

/// <summary>
/// A throwaway Redis server for tests: a Testcontainers container when a Docker engine answers, otherwise the local
/// <c>redis-server</c> on a free loopback port with its own temporary data directory. Dispose it to remove it.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly IRedisBackend _backend;
    private int _disposed;

    private RedisServer(IRedisBackend backend, bool isContainer)
    {
        _backend = backend;
        IsContainer = isContainer;
    }

    /// <summary>The StackExchange.Redis connection string, "host:port" (locally "127.0.0.1:PORT").</summary>
    public string ConnectionString => $"{_backend.Host}:{Port}";

    /// <summary>The TCP port the server listens on; it stays the same across <see cref="RestartAsync"/>.</summary>
    public int Port => _backend.Port;

    /// <summary>True when the server runs in a Docker container rather than as a local process.</summary>
    public bool IsContainer { get; }

    /// <summary>True while the server runs (false between <see cref="StopAsync"/> and <see cref="RestartAsync"/>).</summary>
    public bool IsRunning => _backend.IsRunning;

    /// <summary>Starts a server and returns once it answers PING.</summary>
    /// <param name="options">Persistence, memory limit and extra arguments; null for the defaults.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">
    /// No Docker engine and no local redis-server (run ./test.sh, which installs it), or the server exited early.
    /// </exception>
    /// <exception cref="TimeoutException">The server did not answer PING in time.</exception>
    public static async Task<RedisServer> StartAsync(RedisServerOptions? options = null, CancellationToken ct = default)
    {
        options ??= new RedisServerOptions();
        return await DockerEngine.IsAvailableAsync()
            ? new RedisServer(await ContainerRedis.StartAsync(options, ct), isContainer: true)
            : new RedisServer(await LocalRedis.StartAsync(options, ct), isContainer: false);
    }

    /// <summary>Starts a local <c>redis-server</c> process even when a Docker engine answers (the nodes of a <see cref="RedisCluster"/>).</summary>
    internal static async Task<RedisServer> StartLocalAsync(RedisServerOptions options, CancellationToken ct) =>
        new(await LocalRedis.StartAsync(options, ct), isContainer: false);

    /// <summary>
    /// Runs <c>redis-cli -p PORT args...</c> and returns its trimmed standard output.
    /// </summary>
    /// <remarks>
    /// redis-cli exits 0 on an error reply, so Redis errors come back as text ("ERR ...", "OOM ...");
    /// nil comes back as an empty string.
    /// </remarks>
    /// <param name="args">The command and its arguments, e.g. <c>"SET", "k", "v"</c>.</param>
    /// <exception cref="InvalidOperationException">redis-cli exited non-zero (the message has its stderr).</exception>
    public Task<string> CliAsync(params string[] args) => CliAsync(args, CancellationToken.None);

    /// <summary>Runs <c>redis-cli -p PORT args...</c> and returns its trimmed standard output.</summary>
    /// <param name="args">The command and its arguments.</param>
    /// <param name="ct">Cancels (kills) the redis-cli run.</param>
    /// <exception cref="InvalidOperationException">redis-cli exited non-zero (the message has its stderr).</exception>
    public async Task<string> CliAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        ThrowIfDisposed();
        var result = await _backend.CliAsync(args, ct);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"redis-cli {string.Join(' ', args)} against {ConnectionString} exited with code {result.ExitCode}: " +
                $"{result.Stderr.Trim()} {result.Stdout.Trim()}".TrimEnd());
        }

        return result.Stdout.Trim();
    }

    /// <summary>
    /// Stops the server (SHUTDOWN NOSAVE; killed if it does not exit within 10 s) and waits until it is gone.
    /// With <see cref="RedisServerOptions.AppendOnly"/> the AOF is flushed first. Does nothing when already stopped.
    /// </summary>
    /// <param name="ct">Cancels the wait.</param>
    public Task StopAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        return _backend.StopAsync(ct);
    }

    /// <summary>
    /// Starts the server again on the same port with the same data directory (stopping it first if it runs), and
    /// returns once it answers PING; with <see cref="RedisServerOptions.AppendOnly"/> the data survives.
    /// </summary>
    /// <param name="ct">Cancels the restart.</param>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        if (_backend.IsRunning)
        {
            await _backend.StopAsync(ct);
        }

        await _backend.StartAgainAsync(ct);
    }

    /// <summary>
    /// Freezes the server process (SIGSTOP): connections stay open but nothing is answered, as with a hung server.
    /// </summary>
    /// <param name="ct">Unused today; the signal is sent at once.</param>
    /// <exception cref="NotSupportedException">The server runs in a container.</exception>
    public Task PauseProcessAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        ct.ThrowIfCancellationRequested();
        _backend.Pause();
        return Task.CompletedTask;
    }

    /// <summary>Thaws a process frozen by <see cref="PauseProcessAsync"/> (SIGCONT).</summary>
    /// <param name="ct">Unused today; the signal is sent at once.</param>
    /// <exception cref="NotSupportedException">The server runs in a container.</exception>
    public Task ResumeProcessAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        ct.ThrowIfCancellationRequested();
        _backend.Resume();
        return Task.CompletedTask;
    }

    /// <summary>Kills the server (or removes the container) and deletes its data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _backend.DisposeAsync();
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"Redis at {ConnectionString} ({(IsContainer ? "container" : "local process")})";

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
