using System.Text.RegularExpressions;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>Behaviour that only the Redis store has: script cache, memory pressure, key schema, round trips.</summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed partial class RedisStoreTests(RedisFixture redis) : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    static string NewKey(string prefix = "redis:") => DedupKey.ForMessageId(prefix, DedupKey.Scope("redis-tests"), Guid.NewGuid());

    static string NewOwner() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task ScriptFlush_BetweenClaimAndComplete_IsInvisible()
    {
        var store = RedisTestConnections.Store(_connection);
        var (key, owner) = (NewKey(), NewOwner());
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);

        await redis.Server.CliAsync("SCRIPT", "FLUSH");

        Assert.True(await store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default));
        await redis.Server.CliAsync("SCRIPT", "FLUSH");
        Assert.Equal(ClaimOutcome.Duplicate, (await store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default)).Outcome);
    }

    [Fact]
    public async Task Keys_FollowTheSchemaAndCarryTheRetentionAsTtl()
    {
        var store = RedisTestConnections.Store(_connection);
        var messageId = Guid.NewGuid();
        var key = DedupKey.ForMessageId("schema:", DedupKey.Scope("orders|Billing.ChargeConsumer"), messageId);
        var owner = NewOwner();

        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, TimeSpan.FromHours(1), default);
        var claimedTtl = await _connection.GetDatabase().KeyTimeToLiveAsync(key);
        await store.CompleteAsync(key, owner, claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default);
        var completedTtl = await _connection.GetDatabase().KeyTimeToLiveAsync(key);

        Assert.Matches(KeySchema(), key);
        Assert.EndsWith(System.Buffers.Text.Base64Url.EncodeToString(messageId.ToByteArray()) + "}", key, StringComparison.Ordinal);
        Assert.InRange(claimedTtl!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.InRange(completedTtl!.Value, TimeSpan.FromHours(23.9), Retention);
    }

    [Fact]
    public async Task CustomKeys_AreHashedNeverStoredRaw()
    {
        var key = DedupKey.ForCustomKey("schema:", DedupKey.Scope("x"), "payment 42 {evil}\r\nDEL *");

        Assert.DoesNotContain("payment", key, StringComparison.Ordinal);
        Assert.Matches(@"^schema:\{[A-Za-z0-9_-]{11}:[A-Za-z0-9_-]{43}\}$", key);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task FirstDelivery_CostsTwoScriptCalls_AndADuplicateOne()
    {
        var store = RedisTestConnections.Store(_connection);
        var (key, owner) = (NewKey(), NewOwner());
        await store.ClaimAsync(NewKey(), owner, "fp", Lease, Retention, default); // warm: scripts loaded, subscription made
        await store.CompleteAsync(key, owner, 1, ReadOnlyMemory<byte>.Empty, Retention, default); // warm: lost, nothing claimed

        var before = await RedisTestConnections.ScriptCallsAsync(redis.Server);
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        await store.CompleteAsync(key, owner, claimed.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default);
        var afterFirst = await RedisTestConnections.ScriptCallsAsync(redis.Server);
        await store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default);
        var afterDuplicate = await RedisTestConnections.ScriptCallsAsync(redis.Server);

        Assert.Equal(2, afterFirst - before);
        Assert.Equal(1, afterDuplicate - afterFirst);
    }

    [Fact]
    public async Task AtMaxMemory_NewClaimsFailClosed_WhileCompleteAndReleaseStillWork()
    {
        var store = RedisTestConnections.Store(_connection);
        var (completing, releasing) = (NewKey(), NewKey());
        var (owner1, owner2) = (NewOwner(), NewOwner());
        var claimed1 = await store.ClaimAsync(completing, owner1, "fp", Lease, Retention, default);
        var claimed2 = await store.ClaimAsync(releasing, owner2, "fp", Lease, Retention, default);
        var used = long.Parse(Regex.Match(await redis.Server.CliAsync("INFO", "memory"), @"used_memory:(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        await redis.Server.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await redis.Server.CliAsync("CONFIG", "SET", "maxmemory", (used / 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var refused = await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default).AsTask());
            Assert.Contains("OOM", refused.Message, StringComparison.Ordinal);
            Assert.True(await store.CompleteAsync(completing, owner1, claimed1.Epoch, "r"u8.ToArray(), Retention, default));
            Assert.True(await store.ReleaseAsync(releasing, owner2, claimed2.Epoch, default));
        }
        finally
        {
            await redis.Server.CliAsync("CONFIG", "SET", "maxmemory", "0");
        }

        Assert.Equal(ClaimOutcome.Duplicate, (await store.ClaimAsync(completing, NewOwner(), "fp", Lease, Retention, default)).Outcome);
    }

    [GeneratedRegex(@"^schema:\{[A-Za-z0-9_-]{11}:[A-Za-z0-9_-]{22}\}$")]
    private static partial Regex KeySchema();
}
