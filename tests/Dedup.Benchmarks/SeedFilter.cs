using MassTransit;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// The seed's algorithm, ported faithfully as the baseline (ANCHORS section 1): EXISTS + GET outside the lock,
/// <c>SET lock NX EX 10</c> polled every 100 ms, the work, <c>SET result EX 86400</c>, plain <c>DEL</c>. Its bugs are
/// kept on purpose (no re-check after the lock, unconditional unlock, no renewal).
/// </summary>
public sealed class SeedFilter<T> : IFilter<ConsumeContext<T>>
    where T : class
{
    readonly IDatabase _redis;

    public SeedFilter(IConnectionMultiplexer redis) => _redis = redis.GetDatabase();

    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        var id = context.MessageId!.Value.ToString("N");
        var resultKey = "idempotence:" + id;
        if (await _redis.KeyExistsAsync(resultKey))
        {
            await _redis.StringGetAsync(resultKey);
            return;
        }

        var lockKey = "lock:" + id;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await _redis.StringSetAsync(lockKey, 1, TimeSpan.FromSeconds(10), When.NotExists))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("Timeout while acquiring lock");
            await Task.Delay(100);
        }

        try
        {
            await next.Send(context);
            await _redis.StringSetAsync(resultKey, "done", TimeSpan.FromSeconds(86400));
        }
        finally
        {
            await _redis.KeyDeleteAsync(lockKey);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("seed");
}
