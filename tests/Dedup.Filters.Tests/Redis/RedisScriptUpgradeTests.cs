using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Stores;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>
/// A rolling upgrade across issue 12's cheaper scripts: workers sending the earlier scripts
/// (<see cref="ScriptsBeforeIssue12"/>) and workers sending today's share one Redis, so each must read what the other
/// wrote. Also the script cache's loss on a restart, now that the store sends scripts by a hash of its own.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisScriptUpgradeTests(RedisFixture redis) : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(5);
    const string Channel = "upgrade:__events";

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    IDatabase Database => _connection.GetDatabase();

    RedisDedupStore NewStore() => RedisTestConnections.Store(_connection, "upgrade:");

    static string NewKey() => DedupKey.ForMessageId("upgrade:", DedupKey.Scope("upgrade"), Guid.NewGuid());

    // The earlier worker's claim: {code, epoch, ...}.
    async Task<RedisResult[]> EarlierClaimAsync(string key, string owner, string fingerprint, TimeSpan lease) =>
        (RedisResult[])(await Database.ScriptEvaluateAsync(ScriptsBeforeIssue12.Claim, [key],
            [owner, fingerprint, (long)lease.TotalMilliseconds, (long)Retention.TotalMilliseconds]))!;

    async Task<bool> EarlierCompleteAsync(string key, string owner, long epoch, byte[] result) =>
        (long)(await Database.ScriptEvaluateAsync(ScriptsBeforeIssue12.Complete, [key],
            [owner, epoch, result, (long)Retention.TotalMilliseconds, Channel]))! == 1;

    [Fact]
    public async Task Claim_OfARecordAnEarlierWorkerCompleted_IsADuplicateWithItsResult()
    {
        var store = NewStore();
        var (key, owner) = (NewKey(), DedupKey.NewOwnerToken());
        var claimed = await EarlierClaimAsync(key, owner, "fp", Lease);
        Assert.True(await EarlierCompleteAsync(key, owner, (long)claimed[1], "reply"u8.ToArray()));

        var duplicate = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default);
        var conflict = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "other", Lease, Retention, default);
        var record = await store.InspectAsync(key, default);

        Assert.Equal(ClaimOutcome.Duplicate, duplicate.Outcome);
        Assert.Equal((long)claimed[1], duplicate.Epoch);
        Assert.Equal("reply"u8.ToArray(), duplicate.Result.ToArray());
        Assert.Equal(ClaimOutcome.Conflict, conflict.Outcome);
        Assert.Equal(DedupRecordState.Completed, record.State);
        Assert.Null(record.LeaseRemaining);
    }

    [Fact]
    public async Task EarlierWorkersClaim_OfARecordThisWorkerCompleted_IsADuplicateWithItsResult()
    {
        var store = NewStore();
        var (key, owner) = (NewKey(), DedupKey.NewOwnerToken());
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        Assert.True(await store.CompleteAsync(key, owner, claimed.Epoch, "reply"u8.ToArray(), Retention, default));

        var duplicate = await EarlierClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease);
        var conflict = await EarlierClaimAsync(key, DedupKey.NewOwnerToken(), "other", Lease);

        Assert.Equal((int)ClaimOutcome.Duplicate, (int)duplicate[0]);
        Assert.Equal(claimed.Epoch, (long)duplicate[1]);
        Assert.Equal("reply"u8.ToArray(), (byte[]?)duplicate[2]);
        Assert.Equal((int)ClaimOutcome.Conflict, (int)conflict[0]);
    }

    [Fact]
    public async Task InProgressRecord_IsFieldForFieldWhatAnEarlierWorkerWrites()
    {
        var store = NewStore();
        var (earlierKey, key, owner) = (NewKey(), NewKey(), DedupKey.NewOwnerToken());
        await EarlierClaimAsync(earlierKey, owner, "fp", Lease);
        await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);

        var earlier = await Database.HashGetAllAsync(earlierKey);
        var today = await Database.HashGetAllAsync(key);

        Assert.Equal(Shape(earlier), Shape(today));
        Assert.InRange(Value(today, "e") - Value(earlier, "e"), 0, 10_000_000); // microseconds of the server's clock
        Assert.InRange(Value(today, "d") - Value(earlier, "d"), 0, 10_000); // milliseconds
    }

    [Fact]
    public async Task EarlierWorkersClaim_IsBusyForThisWorker_AndItsCompletionWakesTheWaiter()
    {
        var store = NewStore();
        var (key, owner) = (NewKey(), DedupKey.NewOwnerToken());
        var claimed = await EarlierClaimAsync(key, owner, "fp", Lease);
        using var watch = store.Watch(key);

        var busy = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default);
        Assert.True(await EarlierCompleteAsync(key, owner, (long)claimed[1], []));
        await watch.Changed.WaitAsync(TimeSpan.FromSeconds(10));
        var duplicate = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default);

        Assert.Equal(ClaimOutcome.Busy, busy.Outcome);
        Assert.Equal(ClaimOutcome.Duplicate, duplicate.Outcome);
    }

    [Fact]
    public async Task Complete_AfterATakeoverWithAWaiter_LeavesNoWaiterFlagPreviousEpochOrLease()
    {
        var store = NewStore();
        var key = NewKey();
        await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", TimeSpan.FromMilliseconds(200), Retention, default);
        await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default); // busy: the waiter flag
        await Task.Delay(TimeSpan.FromMilliseconds(350));
        var owner = DedupKey.NewOwnerToken();
        var takeover = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);

        Assert.True(await store.CompleteAsync(key, owner, takeover.Epoch, ReadOnlyMemory<byte>.Empty, Retention, default));
        var record = await store.InspectAsync(key, default);
        var fields = await Database.HashGetAllAsync(key);

        Assert.Equal(ClaimOutcome.TakenOver, takeover.Outcome);
        Assert.False(record.HasWaiters);
        Assert.Equal(0, record.PreviousEpoch);
        Assert.Null(record.LeaseRemaining);
        Assert.Equal(["d", "e", "f", "o", "s"], fields.Select(f => f.Name.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal("", fields.Single(f => f.Name == "d").Value.ToString());
    }

    [Fact]
    public async Task Restart_BetweenClaimAndComplete_IsInvisible()
    {
        // Its own server: the append-only file keeps the claim across the restart, the script cache starts empty.
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true });
        using var connection = RedisTestConnections.Connect(server.ConnectionString);
        var store = RedisTestConnections.Store(connection, "upgrade:");
        var (key, owner) = (NewKey(), DedupKey.NewOwnerToken());
        var claimed = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);

        await server.RestartAsync();

        Assert.Equal(0, await ScriptsCachedAsync(server));
        Assert.True(await RetriedWhileReconnectingAsync(() => store.CompleteAsync(key, owner, claimed.Epoch, "r"u8.ToArray(), Retention, default)));
        Assert.Equal(ClaimOutcome.Duplicate, (await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", Lease, Retention, default)).Outcome);
    }

    static async Task<long> ScriptsCachedAsync(RedisServer server) =>
        long.Parse(System.Text.RegularExpressions.Regex.Match(await server.CliAsync("INFO", "memory"), @"number_of_cached_scripts:(\d+)").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);

    // The multiplexer notices the restart on its own schedule; until it has reconnected a call fails as unavailable.
    static async Task<T> RetriedWhileReconnectingAsync<T>(Func<ValueTask<T>> call)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (DedupStoreUnavailableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    // Field names, and the values that do not vary by the instant: state, owner, fingerprint.
    static string[] Shape(HashEntry[] fields) =>
        [.. fields.Select(f => f.Name == "e" || f.Name == "d" ? $"{f.Name}=<int>" : $"{f.Name}={f.Value}").Order(StringComparer.Ordinal)];

    static long Value(HashEntry[] fields, string name) => long.Parse(fields.Single(f => f.Name == name).Value.ToString(), System.Globalization.CultureInfo.InvariantCulture);
}
