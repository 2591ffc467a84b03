using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

public sealed class InMemoryFilterTests : FilterTests
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key)
    {
        ((InMemoryDedupStore)provider.GetRequiredService<IDedupStore>()).Remove(key);
        return Task.CompletedTask;
    }
}
