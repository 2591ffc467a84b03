using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Contract;

public sealed class InMemoryStoreContractTests : StoreContractTests, IDisposable
{
    readonly InMemoryDedupStore _store = new(TimeProvider.System);

    protected override IDedupStore Store => _store;

    protected override Task RemoveKeyAsync(string key)
    {
        _store.Remove(key);
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
