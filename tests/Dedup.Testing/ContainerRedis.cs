using Testcontainers.Redis;

namespace Dedup.Testing;

/// <summary>Redis in a Testcontainers container, bound to a fixed host port so restarts keep the address.</summary>
internal sealed class ContainerRedis : IRedisBackend
{
    private const int RedisPort = 6379;

    private readonly RedisContainer _container;
    private bool _running;

    private ContainerRedis(RedisContainer container, int port)
    {
        _container = container;
        Port = port;
    }

    public string Host => _container.Hostname;

    public int Port { get; }

    public bool IsRunning => _running;

    /// <summary>Creates and starts the container; Testcontainers waits until redis-cli ping succeeds.</summary>
    public static async Task<ContainerRedis> StartAsync(RedisServerOptions options, CancellationToken ct)
    {
        var hostPort = FreePort.Next();
        var container = new RedisBuilder(ContainerImages.Redis)
            .WithPortBinding(hostPort, RedisPort)
            .WithCommand(["redis-server", .. options.ServerArguments()])
            .Build();
        var redis = new ContainerRedis(container, hostPort);
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

    public async Task StartAgainAsync(CancellationToken ct)
    {
        await _container.StartAsync(ct);
        _running = true;
    }

    public async Task StopAsync(CancellationToken ct)
    {
        // docker stop sends SIGTERM: Redis flushes the AOF (when on) and exits; with --save "" it writes no RDB.
        await _container.StopAsync(ct);
        _running = false;
    }

    public async Task<ProcessResult> CliAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        var result = await _container.ExecAsync(["redis-cli", .. args], ct);
        return result.ToProcessResult();
    }

    public void Pause() => throw NotSupported();

    public void Resume() => throw NotSupported();

    public ValueTask DisposeAsync() => _container.DisposeAsync();

    private static NotSupportedException NotSupported() => new(
        "Pausing the Redis process is only supported for a local redis-server, not for a container. " +
        $"Set {DockerEngine.OverrideVariable}=0 to run the tests against local processes.");
}
