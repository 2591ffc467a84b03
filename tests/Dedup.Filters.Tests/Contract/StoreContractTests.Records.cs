using Dedup.Operations;
using Dedup.Protocol;

namespace Dedup.Filters.Tests.Contract;

/// <summary>
/// The operator's transitions (<see cref="IDedupRecordStore"/>, README "Operating"): inspect reads what the protocol
/// wrote; forget leaves a tombstone that keeps fencing: the next claim is above every epoch before and names the
/// forgotten one, and the forgotten owner's writes are lost.
/// </summary>
public abstract partial class StoreContractTests
{
    IDedupRecordStore Records => (IDedupRecordStore)Store;

    [Fact]
    public async Task Inspect_AbsentKey_IsAbsent()
    {
        var record = await Records.InspectAsync(NewKey(), default);

        Assert.Equal(DedupRecordState.Absent, record.State);
        Assert.Equal(0, record.Epoch);
        Assert.Null(record.TimeToLive);
    }

    [Fact]
    public async Task Inspect_AfterClaim_ShowsOwnerEpochLeaseFingerprintAndTtl()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);

        var record = await Records.InspectAsync(key, default);

        Assert.Equal(DedupRecordState.InProgress, record.State);
        Assert.Equal(owner, record.Owner);
        Assert.Equal(claimed.Epoch, record.Epoch);
        Assert.Equal("fp", record.Fingerprint);
        Assert.InRange(record.LeaseRemaining!.Value, TimeSpan.FromMilliseconds(1), LongLease);
        Assert.False(record.LeaseExpired);
        Assert.InRange(record.TimeToLive!.Value, Retention - TimeSpan.FromSeconds(30), Retention);
        Assert.Equal(0, record.PreviousEpoch);
    }

    [Fact]
    public async Task Inspect_AfterComplete_ShowsTheResultRecordAndNoLease()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await Store.CompleteAsync(key, owner, claimed.Epoch, "55"u8.ToArray(), Retention, default);

        var record = await Records.InspectAsync(key, default);

        Assert.Equal(DedupRecordState.Completed, record.State);
        Assert.Equal(claimed.Epoch, record.Epoch);
        Assert.Equal("55"u8.ToArray(), record.Result.ToArray());
        Assert.Null(record.LeaseRemaining);
        Assert.InRange(record.TimeToLive!.Value, Retention - TimeSpan.FromSeconds(30), Retention);
    }

    [Fact]
    public async Task Inspect_AfterRelease_IsReleasedWithTheEpochAndNoFingerprint()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
        await Store.ReleaseAsync(key, owner, claimed.Epoch, default);

        var record = await Records.InspectAsync(key, default);

        Assert.Equal(DedupRecordState.Released, record.State);
        Assert.Equal(claimed.Epoch, record.Epoch);
        Assert.Null(record.Fingerprint);
    }

    [Fact]
    public async Task Inspect_TakeoverAfterTheLeaseRanOut_ShowsTheExpiredLeaseThenThePreviousEpoch()
    {
        var key = NewKey();
        var first = await Store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default);
        await WaitOutLeaseAsync();
        var expired = await Records.InspectAsync(key, default);
        var takeover = await Store.ClaimAsync(key, NewOwner(), "fp", LongLease, Retention, default);

        var record = await Records.InspectAsync(key, default);

        Assert.True(expired.LeaseExpired, $"lease remaining {expired.LeaseRemaining}");
        Assert.Equal(takeover.Epoch, record.Epoch);
        Assert.Equal(first.Epoch, record.PreviousEpoch);
        Assert.False(record.LeaseExpired);
    }

    [Fact]
    public async Task Forget_AbsentKey_IsNotFoundAndWritesNothing()
    {
        var key = NewKey();

        var result = await Records.ForgetAsync(key, force: true, Retention, default);

        Assert.Equal(DedupForgetOutcome.NotFound, result.Outcome);
        Assert.Equal(DedupRecordState.Absent, (await Records.InspectAsync(key, default)).State);
    }

    [Fact]
    public async Task Forget_LiveLease_IsRefusedAndTheOwnerStillCompletes()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);

        var result = await Records.ForgetAsync(key, force: false, Retention, default);

        Assert.Equal(DedupForgetOutcome.LeaseHeld, result.Outcome);
        Assert.Equal(claimed.Epoch, result.Epoch);
        Assert.InRange(result.LeaseRemaining, TimeSpan.FromMilliseconds(1), LongLease);
        Assert.True(await Store.CompleteAsync(key, owner, claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default));
    }

    [Fact]
    public async Task Forget_LiveLeaseWithForce_FencesTheOwnerOff()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);

        var result = await Records.ForgetAsync(key, force: true, Retention, default);

        Assert.Equal(DedupForgetOutcome.Forgotten, result.Outcome);
        Assert.Equal(DedupRecordState.InProgress, result.PreviousState);
        Assert.False(await Store.RenewAsync(key, owner, claimed.Epoch, LongLease, default));
        Assert.False(await Store.CompleteAsync(key, owner, claimed.Epoch, "late"u8.ToArray(), Retention, default));
        Assert.False(await Store.ReleaseAsync(key, owner, claimed.Epoch, default));
        Assert.Equal(DedupRecordState.Forgotten, (await Records.InspectAsync(key, default)).State);
    }

    [Fact]
    public async Task Forget_ExpiredLease_NeedsNoForce()
    {
        var key = NewKey();
        await Store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default);
        await WaitOutLeaseAsync();

        var result = await Records.ForgetAsync(key, force: false, Retention, default);

        Assert.Equal(DedupForgetOutcome.Forgotten, result.Outcome);
    }

    // The point of the tombstone: the next owner is fenced above the forgotten one, and the forgotten owner's work may
    // have happened, so the claim names its epoch (the takeover check is asked) as after a release.
    [Fact]
    public async Task Forget_Completed_NextClaimIsAboveTheForgottenEpochAndNamesIt_AlsoWhenRetried()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var first = await Store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await Store.CompleteAsync(key, owner, first.Epoch, "r"u8.ToArray(), Retention, default);
        var forgotten = await Records.ForgetAsync(key, force: false, Retention, default);

        var next = NewOwner();
        var claimed = await Store.ClaimAsync(key, next, "fp", LongLease, Retention, default);
        var retried = await Store.ClaimAsync(key, next, "fp", LongLease, Retention, default);

        Assert.Equal((DedupForgetOutcome.Forgotten, DedupRecordState.Completed, first.Epoch), (forgotten.Outcome, forgotten.PreviousState, forgotten.Epoch));
        Assert.Equal(ClaimOutcome.Claimed, claimed.Outcome);
        Assert.True(claimed.Epoch > first.Epoch, $"epoch {claimed.Epoch} after {first.Epoch}");
        Assert.Equal(first.Epoch, claimed.PreviousEpoch);
        Assert.Equal((ClaimOutcome.Claimed, claimed.Epoch, first.Epoch), (retried.Outcome, retried.Epoch, retried.PreviousEpoch));
    }

    [Fact]
    public async Task Forget_Tombstone_KeepsOnlyTheEpochForTheRetention()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await Store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default);
        var retention = TimeSpan.FromMinutes(20);

        await Records.ForgetAsync(key, force: false, retention, default);
        var record = await Records.InspectAsync(key, default);

        Assert.Equal(DedupRecordState.Forgotten, record.State);
        Assert.Equal(claimed.Epoch, record.Epoch);
        Assert.Null(record.Owner);
        Assert.Null(record.Fingerprint);
        Assert.True(record.Result.IsEmpty);
        Assert.InRange(record.TimeToLive!.Value, retention - TimeSpan.FromSeconds(30), retention);
    }

    [Fact]
    public async Task Forget_Twice_IsAlreadyForgottenTheSecondTime()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp", LongLease, Retention, default);
        await Store.ReleaseAsync(key, owner, claimed.Epoch, default);

        var first = await Records.ForgetAsync(key, force: false, Retention, default);
        var second = await Records.ForgetAsync(key, force: false, Retention, default);

        Assert.Equal((DedupForgetOutcome.Forgotten, DedupRecordState.Released), (first.Outcome, first.PreviousState));
        Assert.Equal((DedupForgetOutcome.AlreadyForgotten, claimed.Epoch), (second.Outcome, second.Epoch));
    }

    // A record made for another payload answers Conflict for the whole retention: forgetting it lets the payload through.
    [Fact]
    public async Task Forget_CompletedRecordOfAnotherPayload_LetsTheNextPayloadClaim()
    {
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await Store.ClaimAsync(key, owner, "fp-a", Lease, Retention, default);
        await Store.CompleteAsync(key, owner, claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default);
        Assert.Equal(ClaimOutcome.Conflict, (await Store.ClaimAsync(key, NewOwner(), "fp-b", Lease, Retention, default)).Outcome);

        await Records.ForgetAsync(key, force: false, Retention, default);

        Assert.Equal(ClaimOutcome.Claimed, (await Store.ClaimAsync(key, NewOwner(), "fp-b", Lease, Retention, default)).Outcome);
    }

    [Fact]
    public async Task Forget_WithForce_WakesTheWaitersOfTheClaim()
    {
        var key = NewKey();
        await Store.ClaimAsync(key, NewOwner(), "fp", LongLease, Retention, default);
        using var watch = Store.Watch(key);
        Assert.Equal(ClaimOutcome.Busy, (await Store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default)).Outcome);

        await Records.ForgetAsync(key, force: true, Retention, default);

        await watch.Changed.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
