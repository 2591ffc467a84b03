using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>
/// Dedicated connections for WAIT, each lent to one caller at a time. WAIT blocks the connection it is sent on until the
/// replicas answer or its timeout runs out: on the application's multiplexer every command behind it (claims, lease
/// renewals, the application's own) would wait too, and while a replica is down the whole multiplexer would stall
/// for a timeout per wait (README, "Records that survive a failover", measured). Here a wait holds up only its own
/// connection, and at most <see cref="DedupDurability.Connections"/> run at once.
/// </summary>
/// <remarks>
/// The connections are opened on first use with the store connection's configuration string, and fail fast while
/// disconnected (<see cref="BacklogPolicy.FailFast"/>): a command queued for a connection that failed must never be
/// sent on the next one, where its WAIT would count that connection's writes instead of ours.
/// </remarks>
internal sealed class WaitConnections : IAsyncDisposable
{
    readonly ConfigurationOptions _options;
    readonly SemaphoreSlim _free;
    readonly Lock _lock = new();
    readonly Stack<Task<ConnectionMultiplexer>> _idle = new();
    readonly List<Task<ConnectionMultiplexer>> _all = [];
    bool _disposed;

    /// <param name="configuration">The store connection's configuration string (<see cref="IConnectionMultiplexer.Configuration"/>).</param>
    /// <param name="size">How many connections at most.</param>
    /// <param name="wait">The longest WAIT: commands on these connections may take that long besides the usual timeout.</param>
    public WaitConnections(string configuration, int size, TimeSpan wait)
    {
        _options = ConfigurationOptions.Parse(configuration);
        _options.AbortOnConnectFail = false;
        _options.BacklogPolicy = BacklogPolicy.FailFast;
        _options.ClientName = (_options.ClientName ?? "dedup") + "-wait";
        _options.AsyncTimeout = (int)Math.Min(int.MaxValue, _options.AsyncTimeout + Math.Ceiling(wait.TotalMilliseconds));
        _free = new SemaphoreSlim(size, size);
    }

    /// <summary>Borrows a connection; dispose the lease to give it back. Waits while all are lent.</summary>
    public async Task<Lease> BorrowAsync(CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        Task<ConnectionMultiplexer> connection;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_idle.TryPop(out connection!))
            {
                connection = ConnectionMultiplexer.ConnectAsync(_options);
                _all.Add(connection);
            }
        }

        try
        {
            return new Lease(this, connection, await connection.ConfigureAwait(false));
        }
        catch
        {
            Return(connection, failed: true);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<ConnectionMultiplexer>[] all;
        lock (_lock)
        {
            _disposed = true;
            all = [.. _all];
        }

        foreach (var connection in all)
        {
            if (connection.IsCompletedSuccessfully)
            {
                await connection.Result.DisposeAsync().ConfigureAwait(false);
                continue;
            }

            // Still opening: closed as soon as it opens, or it would live on, reconnecting, for the life of the process.
            _ = connection.ContinueWith(static opened => opened.Result.Dispose(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    void Return(Task<ConnectionMultiplexer> connection, bool failed)
    {
        lock (_lock)
        {
            if (failed)
                _all.Remove(connection); // opened again by the next borrower
            else if (!_disposed)
                _idle.Push(connection);
        }

        _free.Release();
    }

    /// <summary>One borrowed connection.</summary>
    public readonly struct Lease : IDisposable
    {
        readonly WaitConnections _owner;
        readonly Task<ConnectionMultiplexer> _task;

        internal Lease(WaitConnections owner, Task<ConnectionMultiplexer> task, ConnectionMultiplexer connection)
        {
            _owner = owner;
            _task = task;
            Connection = connection;
        }

        public ConnectionMultiplexer Connection { get; }

        public void Dispose() => _owner.Return(_task, failed: false);
    }
}
