using Dedup.Filters.Tests.Redis;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Property;

/// <summary>
/// Runs the property test shrank to, kept as plain facts on both stores. The first four broke the protocol before
/// issue 9's fixes (found by reverting one fix at a time), the last guards the waiter rule (found by removing the
/// publish from complete); the property finds none in the fixed stores (5000 in-memory and 300 Redis runs).
/// </summary>
public abstract class ProtocolCounterexampleTests
{
    protected abstract Task RunAsync(Scenario scenario);

    static Step Claim(int owner, bool otherPayload = false) => new(StepKind.Claim, owner, 0, otherPayload);

    static Step Pass(Pause pause) => new(StepKind.Pass, Pause: pause);

    // Epochs restarted at 1 once the record was gone.
    [Fact]
    public Task ClaimAfterTheRecordExpired_GetsAHigherEpoch() =>
        RunAsync(new Scenario(4, 1, [Claim(3), Pass(Pause.PastRetention), Claim(2)]));

    [Fact]
    public Task ClaimAfterTheKeyWasRemoved_GetsAHigherEpoch() =>
        RunAsync(new Scenario(4, 1, [Claim(3), new Step(StepKind.Remove), Claim(0)]));

    // The conflict check came before the lease check. Shrunk on the fake clock with a pause of exactly a lease; a
    // little more makes the lease surely expired on Redis too.
    [Fact]
    public Task ExpiredClaimMeetsAnotherPayload_IsTakenOver() =>
        RunAsync(new Scenario(3, 1, [Claim(1), Pass(Pause.PastLease), Claim(2, otherPayload: true)]));

    // A claim repeated by its owner moved the lease but not the key's time to live, so the key expired under it.
    [Fact]
    public Task OwnerClaimingAgainPastTheRetention_KeepsItsKey() =>
        RunAsync(new Scenario(3, 1, [Claim(1), Pass(Pause.PastLease), Claim(1), Pass(Pause.PastLease), Claim(2)]));

    // Found with the publish removed from complete: the waiter then slept until its own timeout.
    [Fact]
    public Task WaiterRegisteredWhileBusy_IsWokenByTheCompletion() =>
        RunAsync(new Scenario(3, 1, [Claim(2), Claim(1), new Step(StepKind.Complete, 2)]));
}

public sealed class InMemoryProtocolCounterexampleTests : ProtocolCounterexampleTests
{
    protected override Task RunAsync(Scenario scenario) => InMemoryProtocolPropertyTests.RunAsync(scenario);
}

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisProtocolCounterexampleTests(RedisFixture redis) : ProtocolCounterexampleTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    protected override Task RunAsync(Scenario scenario) => RedisProtocolPropertyTests.RunAsync(_connection, scenario);
}
