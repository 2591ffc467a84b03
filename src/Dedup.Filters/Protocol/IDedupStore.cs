namespace Dedup.Protocol;

/// <summary>
/// A store of claims and result records: the claim protocol of the README's "The claim protocol" section.
/// Every method is one atomic transition; implementations are the Redis store and the in-memory store, and
/// both pass the same contract suite.
/// </summary>
/// <remarks>
/// Methods throw <see cref="DedupStoreUnavailableException"/> when the store cannot be reached or did not
/// answer in time. A claim is idempotent per owner token, so a claim whose reply was lost can be retried.
/// </remarks>
internal interface IDedupStore
{
    /// <summary>Claims <paramref name="key"/> for <paramref name="owner"/> (see <see cref="ClaimOutcome"/>).</summary>
    /// <param name="key">The full store key (see <see cref="DedupKey"/>).</param>
    /// <param name="owner">The caller's owner token; the same token re-claims an in-progress key it already owns.</param>
    /// <param name="fingerprint">A hash of the payload; empty disables the conflict check.</param>
    /// <param name="lease">How long the claim holds without renewal.</param>
    /// <param name="retention">The key's time to live (the retention window).</param>
    /// <param name="cancellationToken">Cancels the wait for the reply (the claim may still have happened).</param>
    ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken);

    /// <summary>Extends the lease of the current owner. Returns false ("lost") for anyone else.</summary>
    ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the result record and makes the key completed for <paramref name="retention"/>, only for the current
    /// owner and epoch; returns false ("lost") and writes nothing otherwise. Repeating a successful completion
    /// with the same owner and epoch returns true.
    /// </summary>
    ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken);

    /// <summary>Gives the key back (absent, epoch kept) after a failure, only for the current owner and epoch.</summary>
    ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken);

    /// <summary>
    /// Registers interest in the next completion or release of <paramref name="key"/>. Register before the claim
    /// that may answer <see cref="ClaimOutcome.Busy"/>, so a notification cannot be missed between the two.
    /// </summary>
    KeyWatch Watch(string key);
}
