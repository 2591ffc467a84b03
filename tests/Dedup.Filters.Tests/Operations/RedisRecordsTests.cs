using Dedup.Filters.Tests.Redis;
using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Operations;

/// <summary>What only Redis shows of forget: the tombstone's epoch floor holds where the server's clock does not.</summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisRecordsTests(RedisFixture redis) : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    // A failover to a replica whose clock is behind: the forgotten epoch is ahead of the server's clock. After a plain
    // DEL the next epoch would come from that clock alone, below the forgotten owner's, and a fenced store downstream
    // would take the forgotten owner's write over the new owner's.
    [Fact]
    public async Task Claim_AfterATombstoneWhoseEpochIsAheadOfTheClock_GetsAHigherEpoch()
    {
        var store = RedisTestConnections.Store(_connection, "records:");
        var key = DedupKey.ForMessageId("records:", DedupKey.Scope("records"), Guid.NewGuid());
        var ahead = (DateTimeOffset.UtcNow.AddDays(1) - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;
        await _connection.GetDatabase().HashSetAsync(key, [new("s", "x"), new("e", ahead)]);

        var claimed = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default);

        Assert.Equal(ClaimOutcome.Claimed, claimed.Outcome);
        Assert.Equal(ahead + 1, claimed.Epoch);
        Assert.Equal(ahead, claimed.PreviousEpoch);
    }

    [Fact]
    public async Task Forget_Tombstone_IsOneSmallHashOnTheRecordsOwnKey()
    {
        var store = RedisTestConnections.Store(_connection, "records:");
        var (key, owner) = (DedupKey.ForMessageId("records:", DedupKey.Scope("records"), Guid.NewGuid()), DedupKey.NewOwnerToken());
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await store.CompleteAsync(key, owner, claimed.Epoch, new byte[4096], Retention, default);

        await ((IDedupRecordStore)store).ForgetAsync(key, force: false, Retention, default);

        var fields = await _connection.GetDatabase().HashGetAllAsync(key);
        Assert.Equal(["e", "s"], fields.Select(f => f.Name.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal(claimed.Epoch, (long)fields.Single(f => f.Name == "e").Value);
    }

    public void Dispose() => _connection.Dispose();
}
