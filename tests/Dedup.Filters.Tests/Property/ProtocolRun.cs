using System.Text;
using Dedup.Protocol;

namespace Dedup.Filters.Tests.Property;

/// <summary>The clock a run reads: the fake clock of the in-memory store, or real time for Redis.</summary>
internal interface IProtocolClock
{
    /// <summary>Time since the run began.</summary>
    TimeSpan Now { get; }

    /// <summary>
    /// How far the store's clock may stand from this one when comparing two times (zero on the fake clock; on Redis
    /// the server's clock only has to tick at the same rate, its offset cancels out).
    /// </summary>
    TimeSpan Slack { get; }

    Task PassAsync(TimeSpan time);
}

/// <summary>The lease and retention of a run and what each <see cref="Pause"/> lasts.</summary>
internal sealed record ProtocolTimings(TimeSpan Lease, TimeSpan Retention)
{
    public TimeSpan Of(Pause pause) => pause switch
    {
        Pause.Moment => Lease / 5,
        Pause.Lease => Lease,
        Pause.PastLease => Lease + Lease / 4,
        _ => Retention + Lease / 2,
    };
}

/// <summary>A broken rule of the claim protocol, with the run up to the step that broke it.</summary>
public sealed class ProtocolViolationException(string message) : Exception(message);

/// <summary>
/// Runs a <see cref="Scenario"/> against a store and checks every answer against a small reference model of the
/// claim protocol (README, "The claim protocol"), and five rules after every step: never two owners with live leases;
/// epochs strictly increase per key, across expiry and deletion; only the current owner completes; a completed record
/// answers every claim within the retention; a waiter registered while Busy is woken by the next complete or release.
/// </summary>
/// <remarks>
/// The model reasons in intervals: a call reaches the store at some moment between its start and its end, so on Redis
/// an answer is checked against every state the key could have been in then (a lease that ran out during the call may
/// be live or expired), and the answer then tells the model which it was. On the fake clock the intervals are points
/// and the model is exact.
/// </remarks>
internal sealed class ProtocolRun
{
    static readonly TimeSpan WakeBound = TimeSpan.FromSeconds(5);

    readonly IDedupStore _store;
    readonly IProtocolClock _clock;
    readonly Func<string, Task> _removeKey;
    readonly ProtocolTimings _timings;
    readonly KeyModel[] _keys;
    readonly Holding?[,] _holdings;
    readonly StringBuilder _trace = new();
    int _tokens;

    ProtocolRun(IDedupStore store, IProtocolClock clock, Func<string, Task> removeKey, ProtocolTimings timings, string keyPrefix, Scenario scenario)
    {
        _store = store;
        _clock = clock;
        _removeKey = removeKey;
        _timings = timings;
        var scope = DedupKey.Scope("property");
        _keys = [.. Enumerable.Range(0, scenario.Keys).Select(_ => new KeyModel(DedupKey.ForMessageId(keyPrefix, scope, Guid.NewGuid())))];
        _holdings = new Holding?[scenario.Owners, scenario.Keys];
    }

    TimeSpan Lease => _timings.Lease;

    TimeSpan Retention => _timings.Retention;

    TimeSpan Slack => _clock.Slack;

    public static async Task CheckAsync(Scenario scenario, IDedupStore store, IProtocolClock clock, Func<string, Task> removeKey, ProtocolTimings timings, string keyPrefix)
    {
        var run = new ProtocolRun(store, clock, removeKey, timings, keyPrefix, scenario);
        try
        {
            for (var i = 0; i < scenario.Steps.Length; i++)
            {
                run._trace.Append(i).Append(": ").Append(scenario.Steps[i]);
                await run.StepAsync(scenario.Steps[i]);
                run._trace.AppendLine();
            }
        }
        finally
        {
            foreach (var key in run._keys)
                key.DropWaiters();
        }
    }

    Task StepAsync(Step step) => step.Kind switch
    {
        StepKind.Claim => ClaimAsync(step),
        StepKind.Renew => RenewAsync(step),
        StepKind.Complete => CompleteAsync(step),
        StepKind.Release => ReleaseAsync(step),
        StepKind.Pass => _clock.PassAsync(_timings.Of(step.Pause)),
        _ => RemoveAsync(step),
    };

    async Task ClaimAsync(Step step)
    {
        var key = _keys[step.Key];
        var held = _holdings[step.Owner, step.Key];
        var token = held is { Holds: true } ? held.Token : $"o{step.Owner}-{++_tokens}";
        var fingerprint = step.OtherPayload ? "fp-b" : "fp-a";
        var watch = _store.Watch(key.Key); // before the claim that may answer Busy, as the protocol asks
        var at = Begin();
        var result = await _store.ClaimAsync(key.Key, token, fingerprint, Lease, Retention, default);
        at = End(at);
        Note($"{result.Outcome} epoch {result.Epoch}");

        var (mayExist, mayBeGone) = Existence(key, at);
        var allowed = new HashSet<ClaimOutcome>();
        if (mayBeGone || key.State is RecordState.Absent or RecordState.Released)
            allowed.Add(ClaimOutcome.Claimed);
        if (mayExist)
        {
            switch (key.State)
            {
                case RecordState.Completed:
                    allowed.Add(Mismatch(key.Fingerprint, fingerprint) ? ClaimOutcome.Conflict : ClaimOutcome.Duplicate);
                    break;
                case RecordState.InProgress when key.Token == token:
                    // The same owner again: its claim stands, and a takeover still says so (issue 10).
                    allowed.Add(key.WasTakeover ? ClaimOutcome.TakenOver : ClaimOutcome.Claimed);
                    break;
                case RecordState.InProgress:
                    var (mayBeLive, mayBeExpired) = Liveness(key, at);
                    if (mayBeLive)
                        allowed.Add(Mismatch(key.Fingerprint, fingerprint) ? ClaimOutcome.Conflict : ClaimOutcome.Busy);
                    if (mayBeExpired)
                        allowed.Add(ClaimOutcome.TakenOver);
                    break;
            }
        }

        if (key.State == RecordState.Completed && !mayBeGone)
            Require(result.Outcome is ClaimOutcome.Duplicate or ClaimOutcome.Conflict, "a completed record answers every claim within the retention");
        Require(allowed.Contains(result.Outcome), $"the claim may answer {string.Join(" or ", allowed)}");

        var reclaim = result.Outcome is ClaimOutcome.Claimed or ClaimOutcome.TakenOver && key.State == RecordState.InProgress && key.Token == token && result.Epoch == key.Epoch;
        if (reclaim)
        {
            Require(result.PreviousEpoch == key.TakenOverFrom, $"a retried claim names the same previous epoch {key.TakenOverFrom}");
            key.SetLease(at, Lease);
            held!.LocalDeadline = at.Start + Lease;
            watch.Dispose();
            return;
        }

        switch (result.Outcome)
        {
            case ClaimOutcome.Claimed or ClaimOutcome.TakenOver:
                Grant(step.Owner, key, token, fingerprint, result, at);
                watch.Dispose();
                break;
            case ClaimOutcome.Busy:
                Require(result.Epoch == key.Epoch, $"Busy names the holder's epoch {key.Epoch}");
                Require(result.LeaseRemaining > TimeSpan.Zero && result.LeaseRemaining <= Lease + Slack, $"Busy's lease left is within a lease ({result.LeaseRemaining})");
                key.Waiters.Add(watch);
                break;
            case ClaimOutcome.Duplicate:
                Require(result.Epoch == key.Epoch && result.Result.Span.SequenceEqual(key.Result), "Duplicate returns the completed owner's epoch and result record");
                watch.Dispose();
                break;
            default:
                Require(result.StoredFingerprint == key.Fingerprint, $"Conflict names the stored fingerprint {key.Fingerprint}");
                watch.Dispose();
                break;
        }
    }

    void Grant(int owner, KeyModel key, string token, string fingerprint, ClaimResult result, Interval at)
    {
        Require(result.Epoch > key.MaxEpoch, $"epochs strictly increase per key (highest so far {key.MaxEpoch})");
        for (var other = 0; other < _holdings.GetLength(0); other++)
        {
            if (other != owner && _holdings[other, Array.IndexOf(_keys, key)] is { Holds: true, Revoked: false } live)
                Require(live.LocalDeadline - Slack <= at.End, $"never two owners with live leases: o{other} holds until {live.LocalDeadline}");
        }

        if (result.Outcome == ClaimOutcome.Claimed)
            key.DropWaiters(); // the record had expired or was released: no waiter flag survives
        if (result.Outcome == ClaimOutcome.TakenOver)
            Require(result.PreviousEpoch == key.Epoch, $"a takeover names the previous owner's epoch {key.Epoch}");
        var (_, mayBeGone) = Existence(key, at);
        if (result.Outcome == ClaimOutcome.Claimed && key.State == RecordState.Released && !mayBeGone)
            Require(result.PreviousEpoch == key.Epoch, $"a claim after a release names the released owner's epoch {key.Epoch}");
        if (result.Outcome == ClaimOutcome.Claimed && key.State == RecordState.Absent)
            Require(result.PreviousEpoch == 0, "a fresh claim names no previous epoch");
        key.TakenOverFrom = result.PreviousEpoch;
        key.WasTakeover = result.Outcome == ClaimOutcome.TakenOver;
        key.State = RecordState.InProgress;
        key.Token = token;
        key.Epoch = result.Epoch;
        key.MaxEpoch = result.Epoch;
        key.Fingerprint = fingerprint;
        key.LeaseSet = at;
        var ttl = Lease * 2 > Retention ? Lease * 2 : Retention;
        (key.ExpiresFrom, key.ExpiresBy) = (at.Start + ttl, at.End + ttl);
        _holdings[owner, Array.IndexOf(_keys, key)] = new Holding(token, result.Epoch) { LocalDeadline = at.Start + Lease };
    }

    async Task RenewAsync(Step step)
    {
        var key = _keys[step.Key];
        if (_holdings[step.Owner, step.Key] is not { } held)
        {
            Note("skipped: never claimed");
            return;
        }

        var at = Begin();
        var ok = await _store.RenewAsync(key.Key, held.Token, held.Epoch, Lease, default);
        at = End(at);
        Note(ok ? "ok" : "lost");
        var owns = key.State == RecordState.InProgress && key.Owns(held);
        Settle(key, held, ok, owns, at, "renew");
        if (ok)
        {
            key.SetLease(at, Lease);
            held.LocalDeadline = at.Start + Lease;
        }
    }

    async Task CompleteAsync(Step step)
    {
        var key = _keys[step.Key];
        if (_holdings[step.Owner, step.Key] is not { } held)
        {
            Note("skipped: never claimed");
            return;
        }

        var record = System.Text.Encoding.UTF8.GetBytes($"r{held.Epoch}");
        var at = Begin();
        var ok = await _store.CompleteAsync(key.Key, held.Token, held.Epoch, record, Retention, default);
        at = End(at);
        Note(ok ? "ok" : "lost");
        var owns = key.State is RecordState.InProgress or RecordState.Completed && key.Owns(held);
        Settle(key, held, ok, owns, at, "complete");
        if (ok)
            Require(held.Epoch == key.MaxEpoch, $"only the current owner completes (current epoch {key.MaxEpoch})");
        if (!ok || key.State != RecordState.InProgress)
            return;

        key.State = RecordState.Completed;
        key.Result = record;
        (key.ExpiresFrom, key.ExpiresBy) = (at.Start + Retention, at.End + Retention);
        held.Holds = false;
        await WakeWaitersAsync(key, "complete");
    }

    async Task ReleaseAsync(Step step)
    {
        var key = _keys[step.Key];
        if (_holdings[step.Owner, step.Key] is not { } held)
        {
            Note("skipped: never claimed");
            return;
        }

        var at = Begin();
        var ok = await _store.ReleaseAsync(key.Key, held.Token, held.Epoch, default);
        at = End(at);
        Note(ok ? "ok" : "lost");
        var owns = key.State is RecordState.InProgress or RecordState.Released && key.Owns(held);
        Settle(key, held, ok, owns, at, "release");
        if (!ok || key.State != RecordState.InProgress)
            return;

        key.State = RecordState.Released;
        key.Fingerprint = string.Empty;
        held.Holds = false;
        await WakeWaitersAsync(key, "release");
    }

    // What renew, complete and release share: true only for the owner of a record that may still exist; false for
    // anyone else or a record that may be gone (and then it is).
    void Settle(KeyModel key, Holding held, bool ok, bool owns, Interval at, string operation)
    {
        var (mayExist, mayBeGone) = Existence(key, at);
        Require(ok ? owns && mayExist : !owns || mayBeGone, $"{operation} answers {(owns && mayExist ? "ok" : "lost")}{(owns && mayExist && mayBeGone ? " or lost" : string.Empty)}");
        if (ok)
            return;
        held.Holds = false;
        if (owns)
        {
            key.State = RecordState.Absent; // it expired
            key.DropWaiters();
        }
    }

    async Task RemoveAsync(Step step)
    {
        var key = _keys[step.Key];
        await _removeKey(key.Key);
        key.State = RecordState.Absent;
        key.DropWaiters();
        for (var owner = 0; owner < _holdings.GetLength(0); owner++)
        {
            if (_holdings[owner, step.Key] is { } held)
                held.Revoked = true; // its claim is gone behind its back: not a live lease any more
        }
    }

    async Task WakeWaitersAsync(KeyModel key, string operation)
    {
        foreach (var waiter in key.Waiters)
        {
            try
            {
                await waiter.Changed.WaitAsync(WakeBound);
            }
            catch (TimeoutException)
            {
                Fail($"a waiter registered while Busy is woken by {operation} (not woken within {WakeBound.TotalSeconds} s)");
            }
        }

        key.DropWaiters();
    }

    // Redis keeps a key while its time to live has not passed; the in-memory store while its expiry lies ahead.
    (bool MayExist, bool MayBeGone) Existence(KeyModel key, Interval at)
    {
        if (key.State == RecordState.Absent)
            return (false, true);
        var surelyGone = key.ExpiresBy + Slack <= at.Start;
        var surelyThere = key.ExpiresFrom - Slack > at.End;
        return (!surelyGone, !surelyThere);
    }

    // A lease is live while its deadline lies ahead.
    (bool MayBeLive, bool MayBeExpired) Liveness(KeyModel key, Interval at)
    {
        var surelyLive = key.LeaseSet.Start + Lease - Slack > at.End;
        var surelyExpired = key.LeaseSet.End + Lease + Slack <= at.Start;
        return (!surelyExpired, !surelyLive);
    }

    static bool Mismatch(string stored, string fingerprint) => stored.Length > 0 && fingerprint.Length > 0 && stored != fingerprint;

    Interval Begin() => new(_clock.Now, TimeSpan.Zero);

    Interval End(Interval begun) => begun with { End = _clock.Now };

    void Note(string text) => _trace.Append(" -> ").Append(text);

    void Require(bool condition, string rule)
    {
        if (!condition)
            Fail(rule);
    }

    void Fail(string rule) =>
        throw new ProtocolViolationException($"Broken: {rule}.{Environment.NewLine}Run (step -> answer):{Environment.NewLine}{_trace}");

    readonly record struct Interval(TimeSpan Start, TimeSpan End);

    enum RecordState
    {
        Absent,
        InProgress,
        Completed,
        Released,
    }

    /// <summary>The model of one key: what the store should hold, and what it has promised so far.</summary>
    sealed class KeyModel(string key)
    {
        public string Key { get; } = key;

        public RecordState State { get; set; }

        public string Token { get; set; } = string.Empty;

        public long Epoch { get; set; }

        public long MaxEpoch { get; set; }

        /// <summary>The epoch the in-progress owner took the key over from or followed after a release; 0 for a fresh claim.</summary>
        public long TakenOverFrom { get; set; }

        /// <summary>The in-progress owner took the key over (rather than claiming it).</summary>
        public bool WasTakeover { get; set; }

        public string Fingerprint { get; set; } = string.Empty;

        public byte[] Result { get; set; } = [];

        /// <summary>The call that last set the lease deadline (claim or renew): the deadline is a lease after it reached the store.</summary>
        public Interval LeaseSet { get; set; }

        /// <summary>The record expires between these two times.</summary>
        public TimeSpan ExpiresFrom { get; set; }

        public TimeSpan ExpiresBy { get; set; }

        /// <summary>Watches registered by claims that answered Busy, waiting for the next complete or release.</summary>
        public List<KeyWatch> Waiters { get; } = [];

        public bool Owns(Holding held) => Token == held.Token && Epoch == held.Epoch;

        // A renewal moves the deadline and keeps the key at least two leases (never shortens it).
        public void SetLease(Interval at, TimeSpan lease)
        {
            LeaseSet = at;
            if (ExpiresFrom < at.Start + lease * 2)
                ExpiresFrom = at.Start + lease * 2;
            if (ExpiresBy < at.End + lease * 2)
                ExpiresBy = at.End + lease * 2;
        }

        public void DropWaiters()
        {
            foreach (var waiter in Waiters)
                waiter.Dispose();
            Waiters.Clear();
        }
    }

    /// <summary>An owner's view of its claim on a key.</summary>
    sealed class Holding(string token, long epoch)
    {
        public string Token { get; } = token;

        public long Epoch { get; } = epoch;

        /// <summary>True from its grant until it completes, releases or is told "lost".</summary>
        public bool Holds { get; set; } = true;

        /// <summary>Its record was deleted behind its back (the lease it believes in is no longer in the store).</summary>
        public bool Revoked { get; set; }

        /// <summary>The start of its last successful claim or renew call plus the lease.</summary>
        public TimeSpan LocalDeadline { get; set; }
    }
}
