using Dedup.Testing;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>Every test class that takes a Redis or RabbitMQ fixture carries the matching <c>Needs</c> trait (README "Tests").</summary>
public sealed class ServerTraitTests
{
    [Fact]
    public void EveryTestThatNeedsAServer_CarriesItsTrait() =>
        Assert.Empty(ServerTraits.Missing(typeof(ServerTraitTests).Assembly, new Dictionary<Type, string[]> { [typeof(WorkerServers)] = ["RabbitMQ", "Redis"] }));
}
