using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dedup.Protocol;

/// <summary>
/// Keeps one owned claim's lease: renews it every third of the lease and keeps a local lease deadline, the start of
/// the last successful claim or renewal call plus the lease (the store's deadline is never earlier). <see cref="Lost"/>
/// is cancelled by a timer at that deadline (re-armed by each successful renewal) when no renewal succeeded in time, by
/// the store answering "lost", and at <see cref="DedupOptions.MaxRunTime"/>. A lost lease stops renewing. Nothing runs
/// until <see cref="Start"/>.
/// </summary>
/// <remarks>
/// One timer does both jobs. <see cref="Start"/> arms it for the first renewal; when it fires, the renewal loop starts
/// and the timer watches the lease deadline from then on. Before the first renewal is due the deadline cannot pass
/// (it is a whole lease after the claim, and <see cref="DedupOptions.MaxRunTime"/> is at least a lease), so a claim
/// that is completed before then (most are) costs one timer: no loop, no delay task, no cancellation source, and
/// stopping it is synchronous.
/// </remarks>
internal sealed class LeaseMonitor : IAsyncDisposable
{
    readonly IDedupStore _store;
    readonly TimeSpan _lease;
    readonly TimeSpan _maxRunTime;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly string _key;
    readonly string _owner;
    readonly long _epoch;
    readonly long _claimStarted;
    readonly long _interval; // a third of the lease, in timestamp ticks
    readonly long _runDeadline; // the claim's start + MaxRunTime
    readonly CancellationTokenSource _lost = new();
    readonly ITimer _timer;
    readonly Lock _gate = new(); // orders the loop's start against a stop
    CancellationTokenSource? _stop; // under _gate: created when the renewal loop starts, so set once the timer watches the deadline
    Task _renewals = Task.CompletedTask;
    long _leaseDeadline; // local, conservative: the start of the last successful claim/renew call + lease
    int _lostSignalled;
    int _stopped; // 1 once stopped: the deadline no longer matters

    public LeaseMonitor(IDedupStore store, DedupOptions options, TimeProvider time, ILogger logger, string key, string owner, long epoch, long claimStarted)
    {
        _store = store;
        _lease = options.Lease;
        _maxRunTime = options.MaxRunTime;
        _time = time;
        _logger = logger;
        _key = key;
        _owner = owner;
        _epoch = epoch;
        _claimStarted = claimStarted;
        _interval = ToTicks(_lease / 3);
        _leaseDeadline = claimStarted + ToTicks(_lease);
        _runDeadline = claimStarted + ToTicks(_maxRunTime);
        _timer = time.CreateTimer(static state => ((LeaseMonitor)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled when the lease is lost.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>
    /// True once the loss is decided, which can be a moment before <see cref="Lost"/> is cancelled. Read after
    /// <see cref="StopAsync"/> it is final: a loss is decided before the stop or never by this monitor.
    /// </summary>
    public bool IsLost => Volatile.Read(ref _lostSignalled) == 1;

    /// <summary>The local lease deadline (a <see cref="TimeProvider"/> timestamp): nobody can take the key over before it.</summary>
    public long LeaseDeadline => Volatile.Read(ref _leaseDeadline);

    /// <summary>The renewal loop (a test hook: it ends once the monitor stops renewing; completed before it started).</summary>
    public Task Renewals
    {
        get
        {
            lock (_gate)
                return _renewals;
        }
    }

    /// <summary>Arms the timer for the first renewal (a third of a lease after the claim call started).</summary>
    public void Start() => ArmAt(Math.Min(_claimStarted + _interval, _runDeadline));

    /// <summary>Stops renewing and watching the deadline (the claim is being completed or given back); waits for a renewal in flight.</summary>
    public Task StopAsync()
    {
        Task renewals;
        CancellationTokenSource stop;
        lock (_gate)
        {
            Volatile.Write(ref _stopped, 1);
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            if (_stop is null)
                return Task.CompletedTask; // completed before its first renewal: nothing else to stop
            stop = _stop;
            renewals = _renewals;
        }

        // The loop's wait ends here, on this thread, without a thrown cancellation.
        if (!stop.IsCancellationRequested)
            stop.Cancel();
        return renewals;
    }

    /// <summary>The store refused a fenced write: the lease is gone. Not logged here (the caller reports it).</summary>
    public async Task SignalLostAsync()
    {
        Interlocked.Exchange(ref _lostSignalled, 1);
        if (!_lost.IsCancellationRequested)
            await _lost.CancelAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        // Waits for a timer callback in flight, so none touches the disposed sources.
        await _timer.DisposeAsync().ConfigureAwait(false);
        _stop?.Dispose();
        _lost.Dispose();
    }

    void OnTimer()
    {
        if (Volatile.Read(ref _stopped) == 1)
            return;

        lock (_gate)
        {
            if (Finished)
                return;
            if (_stop is null)
            {
                // The first renewal is due: the loop takes over renewing (it starts on the pool, outside this lock, and
                // a stop from now on waits for it), and the timer watches the deadline.
                _stop = new CancellationTokenSource();
                _renewals = RenewLoopAsync(_stop.Token);
                ArmDeadline();
                return;
            }
        }

        var now = _time.GetTimestamp();
        if (now >= _runDeadline)
        {
            MarkLost(maxRunTime: true);
        }
        else if (now >= Volatile.Read(ref _leaseDeadline))
        {
            MarkLost(); // no renewal succeeded within a lease: another owner may hold the key now
        }
        else
        {
            ArmDeadline(); // a renewal moved the deadline after this firing was set
        }
    }

    async Task RenewLoopAsync(CancellationToken stop)
    {
        // Started by the timer when the first renewal is due, so the first one goes out at once; not under the timer's
        // lock, where a loss signalled by the first renewal would run the work's cancellation callbacks.
        await Task.Yield();
        var next = _claimStarted + _interval;
        while (true)
        {
            // Due a third of a lease after the last renewal started, however late this loop got here. A stop ends the
            // wait without a thrown cancellation.
            var now = _time.GetTimestamp();
            if (next > now)
                await Task.Delay(_time.GetElapsedTime(now, next), _time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            var started = _time.GetTimestamp();
            if (stop.IsCancellationRequested || started >= _runDeadline)
                return; // past MaxRunTime nothing renews: the deadline timer signals the loss

            next = started + _interval;
            try
            {
                if (!await _store.RenewAsync(_key, _owner, _epoch, _lease, stop).ConfigureAwait(false))
                {
                    MarkLost(); // the store says so: another owner holds the key, or it is gone
                    return;
                }

                Volatile.Write(ref _leaseDeadline, started + ToTicks(_lease));
                ArmDeadline();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (DedupStoreUnavailableException exception)
            {
                // Unknown, not lost: the store may or may not have renewed. Renewals go on; the deadline timer
                // signals the loss if none succeeds in time.
                DedupLog.RenewFailed(_logger, _key, exception);
            }
            catch (Exception exception)
            {
                // Unknown as well: this loop must never end silently, or nothing would renew and yet the work would
                // go on as if it held the key (issue 9).
                DedupLog.RenewThrew(_logger, _key, exception);
            }
        }
    }

    // Once the loop runs, the timer fires at the earlier of the lease deadline and the end of MaxRunTime.
    void ArmDeadline() => ArmAt(Math.Min(Volatile.Read(ref _leaseDeadline), _runDeadline));

    // Under the lock, as the stop's disarming is: the timer is never re-armed after a stop.
    void ArmAt(long due)
    {
        lock (_gate)
        {
            if (Finished)
                return;
            var now = _time.GetTimestamp();
            _timer.Change(due > now ? _time.GetElapsedTime(now, due) : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Decides the loss under the lock the stop takes, so a claim is either stopped first (its completion or release
    /// decides, fenced) or lost first (the stop then finds <see cref="IsLost"/> and nothing is recorded), never both;
    /// then logs and cancels outside it, since cancelling runs the work's callbacks.
    /// </summary>
    void MarkLost(bool maxRunTime = false)
    {
        CancellationTokenSource? stop;
        lock (_gate)
        {
            if (Finished)
                return;
            Volatile.Write(ref _lostSignalled, 1);
            stop = _stop; // a loop not yet started never will: the timer checks the flag under this lock
        }

        if (maxRunTime)
            DedupLog.MaxRunTimeExceeded(_logger, _key, _epoch, _maxRunTime);
        DedupLog.LeaseLost(_logger, _key, _epoch);
        stop?.Cancel(); // nothing renews a lost claim
        _lost.Cancel();
    }

    // Stopped, or the loss decided: nothing more to arm, start or signal.
    bool Finished => Volatile.Read(ref _stopped) == 1 || Volatile.Read(ref _lostSignalled) == 1;

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
