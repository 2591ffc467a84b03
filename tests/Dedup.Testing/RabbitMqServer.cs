using System.Diagnostics;
using System.Globalization;

namespace Dedup.Testing;

/// <summary>
/// A throwaway RabbitMQ broker for tests: a Testcontainers container when a Docker engine answers, otherwise a
/// RabbitMQ node of its own started from the local rabbitmq-server installation (unique node name, free loopback
/// ports, private epmd and files). Dispose it to remove it with every process it started.
/// </summary>
public sealed class RabbitMqServer : IAsyncDisposable
{
    private readonly IRabbitMqBackend _backend;
    private int _disposed;

    private RabbitMqServer(IRabbitMqBackend backend, bool isContainer, TimeSpan startDuration)
    {
        _backend = backend;
        IsContainer = isContainer;
        StartDuration = startDuration;
    }

    /// <summary>The host AMQP clients connect to ("127.0.0.1" for a local node).</summary>
    public string Host => _backend.Host;

    /// <summary>The AMQP port.</summary>
    public int Port => _backend.Port;

    /// <summary>A user allowed to connect from the tests ("guest" locally; the container's own user otherwise).</summary>
    public string Username => _backend.Username;

    /// <summary>That user's password.</summary>
    public string Password => _backend.Password;

    /// <summary>The virtual host, always "/".</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Part of the server's connection settings, next to Host and Port.")]
    public string VirtualHost => "/";

    /// <summary>The AMQP URI with credentials, e.g. <c>amqp://guest:guest@127.0.0.1:PORT/</c> (the default vhost).</summary>
    public Uri AmqpUri => new UriBuilder("amqp", Host, Port, "/")
    {
        UserName = Uri.EscapeDataString(Username),
        Password = Uri.EscapeDataString(Password),
    }.Uri;

    /// <summary>True when the broker runs in a Docker container rather than as a local node.</summary>
    public bool IsContainer { get; }

    /// <summary>How long <see cref="StartAsync"/> took, until the broker accepted connections.</summary>
    public TimeSpan StartDuration { get; }

    /// <summary>Starts a broker and returns once <c>rabbitmqctl await_startup</c> succeeds (at most 90 s locally).</summary>
    /// <param name="ct">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">
    /// No Docker engine and no local rabbitmq-server (run ./test.sh, which installs it), or the node failed to
    /// start (the message has the tail of its log).
    /// </exception>
    public static async Task<RabbitMqServer> StartAsync(CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        if (await DockerEngine.IsAvailableAsync())
        {
            var container = await ContainerRabbitMq.StartAsync(ct);
            return new RabbitMqServer(container, isContainer: true, clock.Elapsed);
        }

        var local = await LocalRabbitMq.StartAsync(ct);
        return new RabbitMqServer(local, isContainer: false, clock.Elapsed);
    }

    /// <summary>Runs <c>rabbitmqctl -n NODE args...</c> (in the container: <c>rabbitmqctl args...</c>) and returns its trimmed standard output.</summary>
    /// <param name="args">The command and its arguments, e.g. <c>"list_queues", "name"</c>.</param>
    /// <exception cref="InvalidOperationException">rabbitmqctl exited non-zero (the message has its output).</exception>
    public Task<string> CtlAsync(params string[] args) => CtlAsync(args, CancellationToken.None);

    /// <summary>Runs <c>rabbitmqctl -n NODE args...</c> and returns its trimmed standard output.</summary>
    /// <param name="args">The command and its arguments.</param>
    /// <param name="ct">Cancels (kills) the rabbitmqctl run.</param>
    /// <exception cref="InvalidOperationException">rabbitmqctl exited non-zero (the message has its output).</exception>
    public async Task<string> CtlAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var result = await _backend.CtlAsync(args, ct);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"rabbitmqctl {string.Join(' ', args)} against {this} exited with code {result.ExitCode}: " +
                $"{result.Stderr.Trim()} {result.Stdout.Trim()}".TrimEnd());
        }

        return result.Stdout.Trim();
    }

    /// <summary>
    /// The number of messages in <paramref name="queue"/> (ready plus unacknowledged) in the default vhost, from
    /// <c>rabbitmqctl list_queues name messages</c>; 0 when the queue does not exist.
    /// </summary>
    /// <param name="queue">The exact queue name.</param>
    /// <param name="ct">Cancels the query.</param>
    public async Task<long> QueueMessageCountAsync(string queue, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var output = await CtlAsync(["-q", "list_queues", "-p", VirtualHost, "--no-table-headers", "name", "messages"], ct);
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var tab = line.LastIndexOf('\t');
            if (tab > 0 && line[..tab] == queue
                && long.TryParse(line[(tab + 1)..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                return count;
            }
        }

        return 0;
    }

    /// <summary>Closes every client connection (reason "test"), as a broker-side network failure would.</summary>
    /// <param name="ct">Cancels the command.</param>
    public Task CloseAllConnectionsAsync(CancellationToken ct = default) =>
        CtlAsync(["close_all_connections", "test"], ct);

    /// <summary>Kills the broker with every process it started (beam, epmd) or removes the container.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _backend.DisposeAsync();
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"RabbitMQ at {Host}:{Port.ToString(CultureInfo.InvariantCulture)} ({(IsContainer ? "container" : "local node")})";
}
