namespace Dedup.Testing;

/// <summary>Where a <see cref="RedisServer"/> actually runs: a local process or a container.</summary>
internal interface IRedisBackend : IAsyncDisposable
{
    /// <summary>The host clients connect to.</summary>
    string Host { get; }

    /// <summary>The TCP port clients connect to; the same across restarts.</summary>
    int Port { get; }

    /// <summary>Runs redis-cli against the server.</summary>
    Task<ProcessResult> CliAsync(IReadOnlyList<string> args, CancellationToken ct);

    /// <summary>Stops the server (SHUTDOWN NOSAVE or equivalent) and waits until it is gone.</summary>
    Task StopAsync(CancellationToken ct);

    /// <summary>Starts the stopped server again on the same port and data directory, and waits until it answers.</summary>
    Task StartAgainAsync(CancellationToken ct);

    /// <summary>True while the server process runs.</summary>
    bool IsRunning { get; }

    /// <summary>Freezes the server process (SIGSTOP).</summary>
    void Pause();

    /// <summary>Thaws the server process (SIGCONT).</summary>
    void Resume();
}
