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
    readonly long _runDeadline; // the claim's start + MaxRunTime
    readonly CancellationTokenSource _lost = new();
    readonly CancellationTokenSource _stop = new();
    readonly ITimer _deadline;
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
        _leaseDeadline = claimStarted + ToTicks(_lease);
        _runDeadline = claimStarted + ToTicks(_maxRunTime);
        _deadline = time.CreateTimer(static state => ((LeaseMonitor)state!).OnDeadline(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled when the lease is lost.</summary>
    public CancellationToken Lost => _lost.Token;

    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>The local lease deadline (a <see cref="TimeProvider"/> timestamp): nobody can take the key over before it.</summary>
    public long LeaseDeadline => Volatile.Read(ref _leaseDeadline);

    /// <summary>The renewal loop (a test hook: it ends once the monitor stops renewing).</summary>
    public Task Renewals => _renewals;

    /// <summary>Arms the deadline and starts renewing.</summary>
    public void Start()
    {
        ArmDeadline();
        _renewals = RenewLoopAsync();
    }

    /// <summary>Stops renewing and watching the deadline (the claim is being completed or given back); waits for a renewal in flight.</summary>
    public async Task StopAsync()
    {
        Volatile.Write(ref _stopped, 1);
        _deadline.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        // Cancelled on this thread, not the pool's (CancelAsync): the loop's wait ends here and the loop returns at
        // once, so a claim that completes before its first renewal costs no thread hop.
        if (!_stop.IsCancellationRequested)
            _stop.Cancel();
        await _renewals.ConfigureAwait(false);
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
        // Waits for a deadline callback in flight, so none touches the disposed sources.
        await _deadline.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _lost.Dispose();
    }

    async Task RenewLoopAsync()
    {
        var interval = ToTicks(_lease / 3);
        var next = _claimStarted + interval;
        while (true)
        {
            // Due a third of a lease after the last renewal started, however late this loop got here. A stop ends the
            // wait without a thrown cancellation (most claims stop before their first renewal).
            var now = _time.GetTimestamp();
            if (next > now)
                await Task.Delay(_time.GetElapsedTime(now, next), _time, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            var started = _time.GetTimestamp();
            if (_stop.IsCancellationRequested || started >= _runDeadline)
                return; // past MaxRunTime nothing renews: the deadline timer signals the loss

            next = started + interval;
            try
            {
                if (!await _store.RenewAsync(_key, _owner, _epoch, _lease, _stop.Token).ConfigureAwait(false))
                {
                    MarkLost(); // the store says so: another owner holds the key, or it is gone
                    return;
                }

                Volatile.Write(ref _leaseDeadline, started + ToTicks(_lease));
                ArmDeadline();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
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

    // The timer fires at the earlier of the lease deadline and the end of MaxRunTime.
    void ArmDeadline()
    {
        if (Volatile.Read(ref _stopped) == 1 || _lost.IsCancellationRequested)
            return;
        var now = _time.GetTimestamp();
        var due = Math.Min(Volatile.Read(ref _leaseDeadline), _runDeadline);
        _deadline.Change(due > now ? _time.GetElapsedTime(now, due) : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    void OnDeadline()
    {
        if (Volatile.Read(ref _stopped) == 1)
            return;
        var now = _time.GetTimestamp();
        if (now >= _runDeadline)
        {
            if (!_lost.IsCancellationRequested)
                DedupLog.MaxRunTimeExceeded(_logger, _key, _epoch, _maxRunTime);
            MarkLost();
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

    void MarkLost()
    {
        if (Interlocked.Exchange(ref _lostSignalled, 1) == 1)
            return;
        DedupLog.LeaseLost(_logger, _key, _epoch);
        _stop.Cancel(); // nothing renews a lost claim
        _lost.Cancel();
    }

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
