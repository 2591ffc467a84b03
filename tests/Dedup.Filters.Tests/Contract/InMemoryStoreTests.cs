using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Time.Testing;

namespace Dedup.Filters.Tests.Contract;

/// <summary>What only the in-memory store must show: it forgets records after the retention (issue 9, item 3).</summary>
public sealed class InMemoryStoreTests : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);

    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    readonly InMemoryDedupStore _store;

    public InMemoryStoreTests() => _store = new InMemoryDedupStore(_time);

    public void Dispose() => _store.Dispose();

    static string NewKey() => DedupKey.ForMessageId("memory:", DedupKey.Scope("memory"), Guid.NewGuid());

    [Fact]
    public async Task Claim_CompletedRecordPastTheRetention_IsForgottenAndClaimsAgain()
    {
        var (key, owner) = (NewKey(), "owner");
        var claimed = await _store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await _store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default);
        _time.Advance(Retention - TimeSpan.FromMilliseconds(1));
        var within = await _store.ClaimAsync(key, "other", "fp", Lease, Retention, default);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var after = await _store.ClaimAsync(key, "other", "fp", Lease, Retention, default);

        Assert.Equal(ClaimOutcome.Duplicate, within.Outcome);
        Assert.Equal(ClaimOutcome.Claimed, after.Outcome);
    }

    [Fact]
    public async Task Sweep_RecordsPastTheRetention_AreRemovedWithoutALookup()
    {
        for (var i = 0; i < 100; i++)
        {
            var key = NewKey();
            var claimed = await _store.ClaimAsync(key, "owner", "fp", Lease, Retention, default);
            switch (i % 3)
            {
                case 0:
                    await _store.CompleteAsync(key, "owner", claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default);
                    break;
                case 1:
                    await _store.ReleaseAsync(key, "owner", claimed.Epoch, default);
                    break;
                // case 2: abandoned in progress (a crashed owner)
            }
        }

        Assert.Equal(100, _store.Count);
        _time.Advance(Retention + TimeSpan.FromMinutes(1)); // the sweep runs every minute

        Assert.Equal(0, _store.Count);
    }

    [Fact]
    public async Task Count_KeysNeverSeenAgain_StaysBoundedByTheRetention()
    {
        var retention = TimeSpan.FromMinutes(2);
        var peak = 0;
        for (var round = 0; round < 60; round++)
        {
            for (var i = 0; i < 50; i++)
            {
                var key = NewKey();
                var claimed = await _store.ClaimAsync(key, "owner", "fp", Lease, retention, default);
                await _store.CompleteAsync(key, "owner", claimed.Epoch, ReadOnlyMemory<byte>.Empty, retention, default);
            }

            _time.Advance(TimeSpan.FromMinutes(1));
            peak = Math.Max(peak, _store.Count);
        }

        // 50 keys a minute, each kept 2 minutes and swept within a minute after: never more than 3 minutes' worth
        // (3000 keys were written).
        Assert.InRange(peak, 50, 150);
    }
}
