using BenchmarkDotNet.Attributes;
using Dedup.Diagnostics;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Dedup.Benchmarks;

/// <summary>
/// The client's cost of one claim that runs and completes before its first renewal is due (the common case), on the
/// in-memory store, so the figure is the protocol's own work: owner token, claim, lease monitor, completion
/// (<c>-- micro --filter *ClaimBenchmarks*</c>).
/// </summary>
[MemoryDiagnoser]
public class ClaimBenchmarks
{
    static readonly string Scope = DedupKey.Scope("/payments|Billing.ChargeConsumer");

    InMemoryDedupStore _store = null!;
    ClaimCoordinator _coordinator = null!;

    [GlobalSetup]
    public void Setup()
    {
        _store = new InMemoryDedupStore(TimeProvider.System);
        var options = Options.Create(new DedupOptions { Retention = TimeSpan.FromSeconds(1) });
        _coordinator = new ClaimCoordinator(_store, options, new DedupMetrics(null), TimeProvider.System, NullLogger<ClaimCoordinator>.Instance);
    }

    [GlobalCleanup]
    public void Cleanup() => _store.Dispose();

    [Benchmark]
    public async Task<bool> ClaimAndComplete()
    {
        var key = DedupKey.ForMessageId("bench:", Scope, Guid.NewGuid());
        var acquisition = await _coordinator.AcquireAsync(key, string.Empty, CancellationToken.None);
        await using var claim = acquisition.Claim!;
        claim.WorkStarting();
        return await claim.CompleteAsync(ReadOnlyMemory<byte>.Empty, CancellationToken.None);
    }
}
