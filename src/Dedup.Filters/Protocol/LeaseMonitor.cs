using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dedup.Protocol;

/// <summary>
/// Keeps one owned claim's lease: renews it every third of the lease and keeps a local lease deadline, the start of
/// the last successful claim or renewal call plus the lease (the store's deadline is never earlier). <see cref="Lost"/>
/// is cancelled at that deadline when no renewal succeeded in time, by the store answering "lost", and at
/// <see cref="DedupOptions.MaxRunTime"/>. A lost lease stops renewing. Nothing runs until <see cref="Start"/>.
/// </summary>
/// <remarks>
/// One timer drives it, due at the next renewal or the deadline, whichever comes first: work that finishes before its
/// first renewal is due costs a timer set and reset, no task, no delay, no cancellation thrown.
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
    readonly long _interval; // a third of the lease, in timestamp ticks
    readonly long _runDeadline; // the claim's start + MaxRunTime
    readonly CancellationTokenSource _lost = new();
    readonly Lock _arming = new();
    readonly ITimer _timer;
    readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    CancellationTokenSource? _stop; // cancels a renewal in flight; created with the first renewal
    Task? _renewal; // the last renewal started (awaited by StopAsync)
    int _renewing; // 1 while a renewal is in flight: set before it starts, cleared when it ends
    long _nextRenewal;
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
        _interval = ToTicks(_lease / 3);
        _nextRenewal = claimStarted + _interval;
        _leaseDeadline = claimStarted + ToTicks(_lease);
        _runDeadline = claimStarted + ToTicks(_maxRunTime);
        _timer = time.CreateTimer(static state => ((LeaseMonitor)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled when the lease is lost.</summary>
    public CancellationToken Lost => _lost.Token;

    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>The local lease deadline (a <see cref="TimeProvider"/> timestamp): nobody can take the key over before it.</summary>
    public long LeaseDeadline => Volatile.Read(ref _leaseDeadline);

    /// <summary>Completes once the monitor renews no more (stopped, or the lease lost): a test hook.</summary>
    public Task Renewals => _ended.Task;

    /// <summary>Arms the timer: renewals and the deadline begin.</summary>
    public void Start() => Arm();

    /// <summary>Stops renewing and watching the deadline (the claim is being completed or given back); waits for a renewal in flight.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            lock (_arming)
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        if (Volatile.Read(ref _stop) is { IsCancellationRequested: false } stop)
            await stop.CancelAsync().ConfigureAwait(false);

        // No renewal starts once stopped (OnTimer checks after taking the flag); one that started before ends here.
        while (Volatile.Read(ref _renewing) == 1)
        {
            if (Volatile.Read(ref _renewal) is { IsCompleted: false } renewal)
                await renewal.ConfigureAwait(false);
            else
                await Task.Yield();
        }

        _ended.TrySetResult();
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

    // Due at the next renewal (none while one is in flight), the lease deadline or the end of MaxRunTime. Computed and
    // set under a lock: the timer's thread and a renewal that just ended both re-arm, and a due time computed before the
    // renewal ended must not overwrite the one computed after it (renewals would slip towards the deadline).
    void Arm()
    {
        lock (_arming)
        {
            if (Volatile.Read(ref _stopped) == 1 || _lost.IsCancellationRequested)
                return;
            var due = Math.Min(Volatile.Read(ref _leaseDeadline), _runDeadline);
            if (Volatile.Read(ref _renewing) == 0)
                due = Math.Min(due, Volatile.Read(ref _nextRenewal));
            var now = _time.GetTimestamp();
            _timer.Change(due > now ? _time.GetElapsedTime(now, due) : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    void OnTimer()
    {
        if (Volatile.Read(ref _stopped) == 1 || _lost.IsCancellationRequested)
            return;
        var now = _time.GetTimestamp();
        if (now >= _runDeadline)
        {
            // Past MaxRunTime nothing renews.
            DedupLog.MaxRunTimeExceeded(_logger, _key, _epoch, _maxRunTime);
            MarkLost();
            return;
        }

        if (now >= Volatile.Read(ref _leaseDeadline))
        {
            MarkLost(); // no renewal succeeded within a lease: another owner may hold the key now
            return;
        }

        if (now >= Volatile.Read(ref _nextRenewal) && Interlocked.CompareExchange(ref _renewing, 1, 0) == 0)
        {
            if (Volatile.Read(ref _stopped) == 1)
            {
                Volatile.Write(ref _renewing, 0); // stopped meanwhile: StopAsync waits for this flag
                return;
            }

            // Due a third of a lease after this renewal started, however late it got here.
            Volatile.Write(ref _nextRenewal, now + _interval);
            var stop = Volatile.Read(ref _stop) ?? InitStop();
            Volatile.Write(ref _renewal, RenewAsync(now, stop.Token));
        }

        Arm();
    }

    CancellationTokenSource InitStop()
    {
        var stop = new CancellationTokenSource();
        if (Interlocked.CompareExchange(ref _stop, stop, null) is { } existing)
        {
            stop.Dispose();
            return existing;
        }

        // Stopped meanwhile: the renewal about to start is cancelled at once.
        if (Volatile.Read(ref _stopped) == 1)
            stop.Cancel();
        return stop;
    }

    async Task RenewAsync(long started, CancellationToken cancellationToken)
    {
        try
        {
            if (!await _store.RenewAsync(_key, _owner, _epoch, _lease, cancellationToken).ConfigureAwait(false))
            {
                MarkLost(); // the store says so: another owner holds the key, or it is gone
                return;
            }

            Volatile.Write(ref _leaseDeadline, started + ToTicks(_lease));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }
        catch (DedupStoreUnavailableException exception)
        {
            // Unknown, not lost: the store may or may not have renewed. The next renewal is due as usual; the
            // deadline signals the loss if none succeeds in time.
            DedupLog.RenewFailed(_logger, _key, exception);
        }
        catch (Exception exception)
        {
            // Unknown as well: renewals must never end silently, or nothing would renew and yet the work would go on as
            // if it held the key (issue 9).
            DedupLog.RenewThrew(_logger, _key, exception);
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }

        Arm();
    }

    void MarkLost()
    {
        if (Interlocked.Exchange(ref _lostSignalled, 1) == 1)
            return;
        DedupLog.LeaseLost(_logger, _key, _epoch);
        _stop?.Cancel(); // nothing renews a lost claim
        _lost.Cancel();
        _ended.TrySetResult();
    }

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
