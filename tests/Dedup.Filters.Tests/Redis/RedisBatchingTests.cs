using System.Text;
using Dedup.Diagnostics;
using Dedup.Filters.Tests.Contract;
using Dedup.Protocol;
using Dedup.Stores;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>
/// Claims and completions that overlap go to Redis together, as one script call (issue 12, <see cref="RedisScriptBatcher"/>).
/// Each key must still get exactly the reply the script alone would give it, and a key that fails must fail alone.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisBatchingTests(RedisFixture redis) : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromMinutes(10);

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    static string NewKey() => DedupKey.ForMessageId("batching:", DedupKey.Scope("redis-batching"), Guid.NewGuid());

    static string NewOwner() => DedupKey.NewOwnerToken();

    [Fact]
    public async Task OverlappingClaimsAndCompletions_GoTogether_AndEachKeyGetsItsOwnReply()
    {
        var store = Batched(_connection);
        var keys = Enumerable.Range(0, 300).Select(_ => NewKey()).ToArray();
        var owners = keys.Select(_ => NewOwner()).ToArray();
        var calls = await RedisTestConnections.ScriptCallsAsync(redis.Server);

        var claims = await Task.WhenAll(keys.Select((key, i) => store.ClaimAsync(key, owners[i], "fp", Lease, Retention, default).AsTask()));
        Assert.All(claims, claim => Assert.Equal(ClaimOutcome.Claimed, claim.Outcome));

        // A result of its own for each key: a reply handed to the wrong caller shows as the wrong bytes.
        var completed = await Task.WhenAll(keys.Select((key, i) =>
            store.CompleteAsync(key, owners[i], claims[i].Epoch, Encoding.UTF8.GetBytes("result " + i), Retention, default).AsTask()));
        Assert.All(completed, Assert.True);

        var copies = await Task.WhenAll(keys.Select(key => store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default).AsTask()));
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(ClaimOutcome.Duplicate, copies[i].Outcome);
            Assert.Equal(claims[i].Epoch, copies[i].Epoch);
            Assert.Equal("result " + i, Encoding.UTF8.GetString(copies[i].Result.Span));
        }

        // 900 transitions; alone they would have been 900 script calls.
        var sent = await RedisTestConnections.ScriptCallsAsync(redis.Server) - calls;
        Assert.True(sent < keys.Length * 3 / 2, $"{keys.Length * 3} overlapping transitions were sent as {sent} script calls");
    }

    [Fact]
    public async Task OverlappingClaimsOfOneKey_OneOwnerClaimsIt_TheOthersFindItBusy()
    {
        var store = Batched(_connection);
        var key = NewKey();

        var claims = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default).AsTask()));

        Assert.Single(claims, claim => claim.Outcome == ClaimOutcome.Claimed);
        Assert.Equal(49, claims.Count(claim => claim.Outcome == ClaimOutcome.Busy));
        Assert.All(claims, claim => Assert.Equal(claims[0].Epoch, claim.Epoch));
    }

    [Fact]
    public async Task AKeyHoldingAForeignValue_FailsAlone_TheKeysSentWithItStand()
    {
        var store = BatchEveryCall(_connection);
        var keys = Enumerable.Range(0, 20).Select(_ => NewKey()).ToArray();
        await _connection.GetDatabase().StringSetAsync(keys[7], "someone else's value");

        var claims = keys.Select(key => store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default).AsTask()).ToArray();
        var refused = await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => claims[7]);

        Assert.Contains("WRONGTYPE", refused.Message, StringComparison.Ordinal);
        foreach (var claim in claims.Where((_, i) => i != 7))
            Assert.Equal(ClaimOutcome.Claimed, (await claim).Outcome);
    }

    [Fact]
    public async Task AtMaxMemory_NewClaimsFailClosed_WhileDuplicatesAndCompletionsSentWithThemAreAnswered()
    {
        await using var server = await RedisServer.StartAsync();
        using var connection = RedisTestConnections.Connect(server.ConnectionString);
        var store = BatchEveryCall(connection);
        var done = Enumerable.Range(0, 10).Select(_ => NewKey()).ToArray();
        foreach (var key in done)
        {
            var owner = NewOwner();
            var claim = await store.ClaimAsync(key, owner, "fp", Lease, Retention, default);
            Assert.True(await store.CompleteAsync(key, owner, claim.Epoch, "r"u8.ToArray(), Retention, default));
        }

        var running = Enumerable.Range(0, 10).Select(_ => (Key: NewKey(), Owner: NewOwner())).ToArray();
        var epochs = new long[running.Length];
        for (var i = 0; i < running.Length; i++)
            epochs[i] = (await store.ClaimAsync(running[i].Key, running[i].Owner, "fp", Lease, Retention, default)).Epoch;
        await server.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await server.CliAsync("CONFIG", "SET", "maxmemory", "1");

        // New keys and copies of completed ones in one claim batch; the running owners' completions in another.
        var fresh = Enumerable.Range(0, 10).Select(_ => store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default).AsTask()).ToArray();
        var copies = done.Select(key => store.ClaimAsync(key, NewOwner(), "fp", Lease, Retention, default).AsTask()).ToArray();
        var completions = running.Select((r, i) => store.CompleteAsync(r.Key, r.Owner, epochs[i], "r"u8.ToArray(), Retention, default).AsTask()).ToArray();

        foreach (var claim in fresh)
            Assert.Contains("OOM", (await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => claim)).Message, StringComparison.Ordinal);
        Assert.All(await Task.WhenAll(copies), copy => Assert.Equal(ClaimOutcome.Duplicate, copy.Outcome));
        Assert.All(await Task.WhenAll(completions), Assert.True);
    }

    [Fact]
    public async Task AnErrorOfTheScriptItselfInOneKey_IsReportedAsAScriptBug_AndTheOtherKeysGetTheirReplies()
    {
        var script = new RedisScript("probe", """
            if ARGV[1] == 'bug' then return nil + 1 end
            return {1, ARGV[1]}
            """);
        var database = _connection.GetDatabase();
        var batcher = new RedisScriptBatcher(script, 1, _connection,
            (s, keys, values) => database.ScriptEvaluateAsync(s.Text, keys, values), new RedisBatching(64, 1, EvenAlone: true));

        var calls = Enumerable.Range(0, 10).Select(i => batcher.EvaluateAsync(NewKey(), [i == 4 ? "bug" : "value " + i])).ToArray();
        var bug = await Assert.ThrowsAsync<RedisServerException>(() => calls[4]);

        Assert.StartsWith("ERR user_script:", bug.Message, StringComparison.Ordinal);
        Assert.False(RedisDedupStore.IsStoreFailure(bug));
        for (var i = 0; i < calls.Length; i++)
        {
            if (i != 4)
                Assert.Equal("value " + i, (string?)((RedisResult[])(await calls[i])!)[1]);
        }
    }

    [Fact]
    public async Task AfterTheScriptCacheIsFlushed_ABatchIsSentAgainWithItsText()
    {
        var store = BatchEveryCall(_connection);
        await store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default);
        await redis.Server.CliAsync("SCRIPT", "FLUSH");

        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default).AsTask()));

        Assert.All(claims, claim => Assert.Equal(ClaimOutcome.Claimed, claim.Outcome));
    }

    [Fact]
    public async Task RedisStopped_EveryClaimOfABatchFailsClosed()
    {
        await using var server = await RedisServer.StartAsync();
        using var connection = RedisTestConnections.Connect(server.ConnectionString);
        var store = BatchEveryCall(connection);
        await store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default);
        await server.StopAsync();

        var claims = Enumerable.Range(0, 20).Select(_ => store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default).AsTask()).ToArray();

        foreach (var claim in claims)
            await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => claim);
    }

    [Fact]
    public async Task ByDefault_EveryClaimGoesAlone_AndWithRedisBatchSizeTheyGoTogether()
    {
        foreach (var batchSize in new[] { 1, 64 })
        {
            var services = new ServiceCollection();
            services.AddDedup(o =>
            {
                o.KeyPrefix = "batching:";
                if (batchSize > 1)
                    o.RedisBatchSize = batchSize;
            });
            services.AddDedupRedisStore(_ => _connection);
            await using var provider = services.BuildServiceProvider();
            var store = provider.GetRequiredService<IDedupStore>();

            // One claim first: the server may lack the script (another test flushed its cache), and a NOSCRIPT counts too.
            await store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default);
            var calls = await RedisTestConnections.ScriptCallsAsync(redis.Server);

            var claims = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => store.ClaimAsync(NewKey(), NewOwner(), "fp", Lease, Retention, default).AsTask()));

            Assert.All(claims, claim => Assert.Equal(ClaimOutcome.Claimed, claim.Outcome));
            var sent = await RedisTestConnections.ScriptCallsAsync(redis.Server) - calls;
            if (batchSize == 1)
                Assert.Equal(100, sent);
            else
                Assert.True(sent < 50, $"100 overlapping claims with RedisBatchSize {batchSize} were sent as {sent} script calls");
        }
    }

    /// <summary>A store that batches overlapping calls (64 at most, one call in flight).</summary>
    static RedisDedupStore Batched(IConnectionMultiplexer connection) =>
        new(connection, ownsConnection: false, "batching:", new DedupMetrics(), NullLogger.Instance, RedisBatching.Default);

    /// <summary>A store that sends even a lone claim or completion through the many-key script.</summary>
    internal static RedisDedupStore BatchEveryCall(IConnectionMultiplexer connection) =>
        new(connection, ownsConnection: false, "batching:", new DedupMetrics(), NullLogger.Instance, new RedisBatching(64, 1, EvenAlone: true));
}

/// <summary>The store contract with every claim and completion sent through the many-key script, even alone.</summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisBatchedStoreContractTests(RedisFixture redis) : StoreContractTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);
    IDedupStore? _store;

    private protected override IDedupStore Store => _store ??= RedisBatchingTests.BatchEveryCall(_connection);

    protected override Task RemoveKeyAsync(string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    protected override Task PassAsync(TimeSpan time) => Task.Delay(time);

    public void Dispose() => _connection.Dispose();
}
