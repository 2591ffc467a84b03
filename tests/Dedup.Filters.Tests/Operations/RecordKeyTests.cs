using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Redis;
using Dedup.Operations;
using Dedup.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Operations;

/// <summary>
/// The public key helpers build the key the filter actually wrote, from what an operator knows: the MessageId (or the
/// business key), the endpoint (its address or queue name) and the consumer type; inspect then finds the record there.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RecordKeyTests(RedisFixture redis) : BusTestBase, IDisposable
{
    static readonly string Consumer = typeof(ChargeConsumer).FullName!;

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    protected override void AddStore(IServiceCollection services) => services.AddDedupRedisStore(_ => _connection);

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    [Fact]
    public async Task KeyForMessage_ByEndpointAddressOrQueueName_IsTheKeyTheFilterWrote()
    {
        await using var bus = await StartAsync();
        var id = Guid.NewGuid();
        await Publish(bus, new ChargePayment(Guid.NewGuid(), 10m), id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        var (written, address) = Written(bus);
        var records = bus.Provider.GetRequiredService<DedupRecords>();

        var byAddress = records.KeyForMessage(id, address.ToString(), Consumer);
        var byQueue = records.KeyForMessage(id, address.Segments[^1], Consumer);

        Assert.Equal(written, byAddress);
        Assert.Equal(written, byQueue);
        var record = await records.InspectAsync(byQueue);
        Assert.Equal(DedupRecordState.Completed, record.State);
        Assert.Equal(Assert.Single(bus.Ledger.Claims)!.Epoch, record.Epoch);
    }

    [Fact]
    public async Task KeyForCustomKey_ByQueueName_IsTheKeyTheFilterWrote()
    {
        await using var bus = await StartAsync(o => o.KeyFor<ChargePayment>(p => "payment-" + p.PaymentId));
        var payment = new ChargePayment(Guid.NewGuid(), 10m);
        var id = Guid.NewGuid();
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        var (written, address) = Written(bus);

        var key = bus.Provider.GetRequiredService<DedupRecords>().KeyForCustomKey("payment-" + payment.PaymentId, address.Segments[^1], Consumer);

        Assert.Equal(written, key);
    }

    [Fact]
    public async Task Inspect_KeyOfAnotherPrefix_IsRefusedNamingThePrefix()
    {
        await using var bus = await StartAsync();
        var records = bus.Provider.GetRequiredService<DedupRecords>();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => records.InspectAsync("ledger:{abc}:payment"));

        Assert.Contains($"Dedup:KeyPrefix is '{records.KeyPrefix}'", error.Message, StringComparison.Ordinal);
    }

    static (string Key, Uri InputAddress) Written(TestBus bus)
    {
        var claim = Assert.Single(bus.Ledger.Claims)!;
        var consumed = bus.Harness.Consumed.Select<ChargePayment>().First();
        return (claim.Key, consumed.Context.ReceiveContext.InputAddress);
    }

    public void Dispose() => _connection.Dispose();
}
