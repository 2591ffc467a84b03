using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Dedup.Filters.Tests.Contract;

public sealed class InMemoryStoreContractTests : StoreContractTests, IDisposable
{
    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    readonly InMemoryDedupStore _store;

    public InMemoryStoreContractTests() => _store = new InMemoryDedupStore(_time);

    private protected override IDedupStore Store => _store;

    protected override Task RemoveKeyAsync(string key)
    {
        _store.Remove(key);
        return Task.CompletedTask;
    }

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }

    public void Dispose() => _store.Dispose();
}

public sealed class InMemoryExecutorContractTests : ExecutorContractTests
{
    InMemoryDedupStore? _store;

    protected override void AddStore(IServiceCollection services) =>
        services.AddSingleton<IDedupStore>(_store = new InMemoryDedupStore(TimeProvider.System));

    protected override Task RemoveKeyAsync(string key)
    {
        _store!.Remove(key);
        return Task.CompletedTask;
    }
}
