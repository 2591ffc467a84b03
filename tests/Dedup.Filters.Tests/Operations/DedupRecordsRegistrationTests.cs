using Dedup.Filters.Tests.Support;
using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Operations;

/// <summary><see cref="DedupRecords"/> comes with <c>AddDedup</c> and works on the stores Dedup provides.</summary>
public sealed class DedupRecordsRegistrationTests
{
    [Fact]
    public async Task DedupRecords_AfterAddDedupInMemoryStore_ResolvesWithTheConfiguredPrefix()
    {
        var services = new ServiceCollection();
        services.AddDedup(o => o.KeyPrefix = "ops:").AddDedupInMemoryStore();
        await using var provider = services.BuildServiceProvider();

        var records = provider.GetRequiredService<DedupRecords>();

        Assert.Equal("ops:", records.KeyPrefix);
        Assert.StartsWith("ops:{", records.KeyForMessage(Guid.NewGuid(), "payments", "Billing.ChargeConsumer"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DedupRecords_OnAStoreOfTheApplications_FailsNamingTheStoresItWorksOn()
    {
        var services = new ServiceCollection();
        using var inner = new InMemoryDedupStore(TimeProvider.System);
        services.AddDedup().AddSingleton<IDedupStore>(new CrashingStore(inner));
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<DedupRecords>());

        Assert.Contains("AddDedupRedisStore", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("payments")]
    [InlineData("queue:payments")]
    [InlineData("rabbitmq://localhost/payments")]
    [InlineData("loopback://localhost/payments?bind=true")]
    public void EndpointScope_QueueNameOrAddressOnTheDefaultVirtualHost_IsTheSameScope(string endpoint)
    {
        var filters = DedupKey.EndpointScope(new Uri("rabbitmq://rabbit-1:5672/payments"), "Billing.ChargeConsumer");

        Assert.Equal(filters, DedupKey.EndpointScope(endpoint, "Billing.ChargeConsumer"));
    }

    [Fact]
    public void EndpointScope_AnotherVirtualHost_IsAnotherScope()
    {
        var defaultHost = DedupKey.EndpointScope("payments", "Billing.ChargeConsumer");

        Assert.NotEqual(defaultHost, DedupKey.EndpointScope("rabbitmq://localhost/billing/payments", "Billing.ChargeConsumer"));
    }
}
