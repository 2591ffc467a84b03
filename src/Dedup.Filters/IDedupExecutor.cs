using Dedup.Protocol;

namespace Dedup;

/// <summary>
/// The seed's <c>execute(id, func)</c>, done right: runs the work at most once per retention window across every
/// process that shares the store, returns the stored result to every later caller, and makes a concurrent caller
/// wait (bounded by <see cref="DedupOptions.InFlightWait"/>) for the one in flight, then return its result.
/// </summary>
public interface IDedupExecutor
{
    /// <summary>Runs <paramref name="work"/> once for <paramref name="key"/> and returns its (stored) result.</summary>
    /// <param name="key">The idempotency key (hashed into the store key), e.g. <c>fibonacci:10</c>.</param>
    /// <param name="work">The work; its token is cancelled when the caller cancels or the lease is lost.</param>
    /// <param name="cancellationToken">
    /// Cancels the wait and the work; a call cancelled before the work started gives the key back at once. Once the work
    /// has returned, its result is recorded and returned even when this token was cancelled meanwhile.
    /// </param>
    /// <exception cref="DedupInFlightTimeoutException">Another caller was still running the work when the wait ran out.</exception>
    /// <exception cref="DedupLeaseLostException">The lease was lost while the work ran; its result was not stored.</exception>
    /// <exception cref="DedupStoreUnavailableException">The store could not be reached (the executor always fails closed).</exception>
    Task<T> ExecuteAsync<T>(string key, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs <paramref name="work"/> once for <paramref name="key"/>, giving it the claim (fencing epoch, lease-lost token).
    /// With a <paramref name="fingerprint"/>, a later call with the same key and another fingerprint throws
    /// <see cref="DedupConflictException"/> instead of returning the stored result.
    /// </summary>
    Task<T> ExecuteAsync<T>(string key, Func<DedupClaim, CancellationToken, Task<T>> work, string? fingerprint = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs <paramref name="work"/> once for <paramref name="key"/>; when the claim is taken over (a previous caller's
    /// lease ran out before it recorded its result: a crash or a pause), asks <paramref name="verifyTakeover"/> first
    /// whether that caller's work happened. <see cref="TakeoverVerdict.Applied"/> with the result (a <typeparamref name="T"/>)
    /// records and returns it without running the work; <see cref="TakeoverVerdict.NotApplied"/> runs it.
    /// </summary>
    /// <exception cref="DedupTakeoverCheckException">The check threw, or its result is not a <typeparamref name="T"/>: nothing ran; the next call asks again.</exception>
    Task<T> ExecuteAsync<T>(
        string key,
        Func<DedupClaim, CancellationToken, Task<T>> work,
        Func<DedupTakeover, CancellationToken, Task<TakeoverVerdict>> verifyTakeover,
        string? fingerprint = null,
        CancellationToken cancellationToken = default);
}
