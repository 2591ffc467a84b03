using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using StackExchange.Redis;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// The ledger's fencing (issue 10), the same for every ledger: a write refuses an epoch below the highest seen for its
/// dedup key; a takeover check answers whether an owner applied the effect and raises the fence in the same step.
/// </summary>
public abstract class LedgerContractTests
{
    protected const long Old = 1_700_000_000_000_001;
    protected const long New = 1_700_000_000_000_002;

    protected abstract ILedger Ledger { get; }

    static string NewId() => Guid.NewGuid().ToString();

    static PaymentEntry Payment(string id, Fence fence) => new(id, 12.5m, "EUR", "payments", Guid.NewGuid().ToString(), fence);

    [Fact]
    public async Task TakeOver_AfterTheOldOwnerWrote_FindsItAppliedAtItsEpoch()
    {
        var id = NewId();
        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", Old)), default);

        var found = await Ledger.TakeOverPaymentAsync(id, new Fence("dedup:{k}", New), default);

        Assert.True(found.Applied);
        Assert.Equal(Old, found.AppliedEpoch);
    }

    [Fact]
    public async Task TakeOver_BeforeTheOldOwnerWrites_NotApplied_AndTheOldOwnersWriteIsRefused()
    {
        var id = NewId();

        var found = await Ledger.TakeOverPaymentAsync(id, new Fence("dedup:{k}", New), default);
        var stale = await Assert.ThrowsAsync<StaleEpochException>(() => Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", Old)), default));

        Assert.False(found.Applied);
        Assert.Equal(New, stale.StoredEpoch);
        Assert.Equal([0L], await Ledger.PaymentExecutionsAsync([id], default));
    }

    [Fact]
    public async Task Write_ByTheNewOwnerAfterItsCheck_IsAccepted()
    {
        var id = NewId();
        await Ledger.TakeOverPaymentAsync(id, new Fence("dedup:{k}", New), default);

        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", New)), default);

        Assert.Equal([1L], await Ledger.PaymentExecutionsAsync([id], default));
    }

    // Without a takeover check the crash window stays visible: the new owner's repeat is counted, not refused.
    [Fact]
    public async Task Write_AtAHigherEpochAfterAnApply_CountsASecondExecution()
    {
        var id = NewId();
        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", Old)), default);

        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", New)), default);

        Assert.Equal([2L], await Ledger.PaymentExecutionsAsync([id], default));
    }

    [Fact]
    public async Task Write_AtAnEpochBelowOneThatWrote_IsRefused()
    {
        var id = NewId();
        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", New)), default);

        await Assert.ThrowsAsync<StaleEpochException>(() => Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{k}", Old)), default));
        Assert.Equal([1L], await Ledger.PaymentExecutionsAsync([id], default));
    }

    [Fact]
    public async Task Fences_AreKeptPerDedupKey()
    {
        var id = NewId();
        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{a}", New)), default);

        await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{b}", Old)), default);
        var other = await Ledger.TakeOverPaymentAsync(id, new Fence("dedup:{c}", New), default);

        Assert.Equal([2L], await Ledger.PaymentExecutionsAsync([id], default));
        Assert.False(other.Applied);
    }

    [Fact]
    public async Task Write_WithoutADedupClaim_IsCountedUnfenced()
    {
        var id = NewId();

        await Ledger.RecordPaymentAsync(Payment(id, default), default);
        await Ledger.RecordPaymentAsync(Payment(id, default), default);

        Assert.Equal([2L], await Ledger.PaymentExecutionsAsync([id], default));
    }

    [Fact]
    public async Task TakeOverQuote_AfterTheOldOwnerIssuedIt_ReturnsTheIssuedQuote()
    {
        var quote = new QuoteIssued("q-" + NewId(), 99.5m, 4242, DateTimeOffset.UnixEpoch.AddDays(20000));
        await Ledger.RecordQuoteAsync(quote, new Fence("dedup:{q}", Old), default);

        var found = await Ledger.TakeOverQuoteAsync(quote.QuoteId, new Fence("dedup:{q}", New), default);

        Assert.True(found.Applied);
        Assert.Equal(quote, found.Quote);
        Assert.Equal([1L], await Ledger.QuoteExecutionsAsync([quote.QuoteId], default));
    }

    [Fact]
    public async Task TakeOverQuote_NothingIssued_NotApplied_AndTheOldOwnersQuoteIsRefused()
    {
        var quote = new QuoteIssued("q-" + NewId(), 1m, 7, DateTimeOffset.UnixEpoch);

        var found = await Ledger.TakeOverQuoteAsync(quote.QuoteId, new Fence("dedup:{q}", New), default);

        Assert.False(found.Applied);
        Assert.Null(found.Quote);
        await Assert.ThrowsAsync<StaleEpochException>(() => Ledger.RecordQuoteAsync(quote, new Fence("dedup:{q}", Old), default));
    }

    [Fact]
    public async Task Executions_OfManyIds_InTheirOrder_ZeroForUnknown()
    {
        var ids = Enumerable.Range(0, 1500).Select(_ => NewId()).ToList();
        foreach (var id in ids.Take(3))
            await Ledger.RecordPaymentAsync(Payment(id, new Fence("dedup:{" + id + "}", Old)), default);

        var counts = await Ledger.PaymentExecutionsAsync(ids, default);

        Assert.Equal(ids.Count, counts.Count);
        Assert.Equal([1L, 1L, 1L], counts.Take(3));
        Assert.All(counts.Skip(3), c => Assert.Equal(0, c));
    }
}

public sealed class InMemoryLedgerContractTests : LedgerContractTests
{
    protected override ILedger Ledger { get; } = new InMemoryLedger();
}

/// <summary>The Redis ledger: the contract, and its key layout (issue 11): one hash slot per id, a TTL on every key.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class RedisLedgerContractTests : LedgerContractTests, IAsyncLifetime
{
    static readonly LedgerSettings Settings = new() { KeyPrefix = $"ledger-contract-{Guid.NewGuid():N}:", Retention = TimeSpan.FromDays(2), MaxEntries = 3 };
    static readonly DedupOptions Dedup = new() { Retention = TimeSpan.FromHours(5), Lease = TimeSpan.FromSeconds(30), MaxRunTime = TimeSpan.FromMinutes(30) };

    readonly WorkerServers _servers;
    ConnectionMultiplexer _redis = null!;
    RedisLedger _ledger = null!;

    public RedisLedgerContractTests(WorkerServers servers) => _servers = servers;

    protected override ILedger Ledger => _ledger;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(_servers.Redis.ConnectionString);
        _ledger = new RedisLedger(_redis, Settings, Dedup);
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Theory]
    [InlineData("inv-1001")]
    [InlineData("}{odd}{id")]
    public async Task EveryKeyOfOnePayment_IsInOneSlot_AndExpires(string id)
    {
        var quote = new QuoteIssued(id, 1m, 1, DateTimeOffset.UnixEpoch);
        await _ledger.RecordPaymentAsync(new PaymentEntry(id, 1m, "EUR", "payments", "m", new Fence("dedup:{s:a}", Old)), default);
        await _ledger.RecordQuoteAsync(quote, new Fence("dedup:{s:b}", Old), default);
        await _ledger.TakeOverPaymentAsync(id, new Fence("dedup:{s:c}", Old), default);

        var keys = await KeysOfAsync(LedgerKeys.Tag(id));

        Assert.Equal(6, keys.Count); // payment, entries, quote, and the fences of three dedup keys
        Assert.Single(keys.Select(k => _redis.HashSlot(k)).Distinct());
        foreach (var key in keys)
        {
            var ttl = await _redis.GetDatabase().KeyTimeToLiveAsync(key);
            var expected = key.ToString().Contains(":fence:", StringComparison.Ordinal) ? RedisLedger.FenceLifetime(Dedup) : Settings.Retention;
            Assert.True(ttl is { } t && t <= expected && t > expected - TimeSpan.FromMinutes(1), $"{key}: TTL {ttl}, expected {expected}");
        }
    }

    [Fact]
    public async Task Entries_KeepTheNewestMaxEntriesPerPayment()
    {
        var id = Guid.NewGuid().ToString();
        for (var i = 0; i < 5; i++)
            await _ledger.RecordPaymentAsync(new PaymentEntry(id, i, "EUR", "payments", $"m{i}", default), default);

        var entries = await _redis.GetDatabase().ListRangeAsync($"{Settings.KeyPrefix}{{{id}}}:entries");

        Assert.Equal(["m2", "m3", "m4"], entries.Select(e => System.Text.Json.JsonDocument.Parse(e.ToString()).RootElement.GetProperty("messageId").GetString()));
        Assert.Equal(5, (long)await _redis.GetDatabase().StringGetAsync($"{Settings.KeyPrefix}{{{id}}}:payment"));
    }

    [Fact]
    public void FenceLifetime_OutlivesTheDedupRecord()
    {
        Assert.Equal(TimeSpan.FromHours(5) + TimeSpan.FromMinutes(31), RedisLedger.FenceLifetime(Dedup));
    }

    async Task<List<RedisKey>> KeysOfAsync(string tag)
    {
        var server = _redis.GetServers()[0];
        var keys = new List<RedisKey>();
        await foreach (var key in server.KeysAsync(pattern: $"{Settings.KeyPrefix}{{{EscapeGlob(tag)}}}*"))
            keys.Add(key);
        return keys;
    }

    static string EscapeGlob(string text) => string.Concat(text.Select(c => c is '*' or '?' or '[' or ']' or '\\' ? "\\" + c : c.ToString()));
}
